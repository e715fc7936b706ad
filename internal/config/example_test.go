package config

import "testing"

// The shipped example must stay valid.
func TestShippedExampleIsValid(t *testing.T) {
	c, err := LoadFile("../../examples/sightline.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Prometheus.ScrapeConfigs) != 2 || c.Metrics.RetentionSize != 50<<30 {
		t.Errorf("example not read as written: %d jobs, retention_size %v", len(c.Prometheus.ScrapeConfigs), c.Metrics.RetentionSize)
	}
}
