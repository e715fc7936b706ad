// Package bench holds the event store's Go benchmarks (bench_test.go); the
// data generator is in bench/gen, the shared scenarios in bench/scenario and
// the program printing every target's figure in bench/cmd/eventbench.
package bench
