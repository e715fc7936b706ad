//go:build !unix

package logstore

// processCPU is not measured on this platform.
func processCPU() int64 { return 0 }
