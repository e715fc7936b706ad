package config

import yamlv2 "go.yaml.in/yaml/v2"

// yamlv2Unmarshal parses with yaml v2, the version Prometheus' config types
// implement their UnmarshalYAML for.
func yamlv2Unmarshal(b []byte, v any) error { return yamlv2.UnmarshalStrict(b, v) }
