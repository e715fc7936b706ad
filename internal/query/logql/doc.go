// Package logql implements sightline's own LogQL: a lexer and recursive-descent
// parser producing an AST with a canonical printer, a storage-independent
// per-line pipeline executor (line filters, parsers, label filters, formatters),
// and an evaluation engine for log and metric queries over an abstract Source.
//
// The semantics follow the Loki 3.x LogQL documentation. No Loki code is used.
//
// Concurrency: parsed expressions (Expr) are immutable and safe for concurrent
// use. A Pipeline built from an expression is NOT safe for concurrent use (it
// reuses buffers); build one per goroutine with NewPipeline. Engine is safe for
// concurrent use if its Source is.
package logql
