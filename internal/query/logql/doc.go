// Package logql implements sightline's own LogQL: a lexer and recursive-descent
// parser producing an AST with a canonical printer (ParseExpr, Expr.String), a
// storage-independent per-line pipeline (NewPipeline: line filters, json,
// logfmt, regexp, pattern and unpack parsers, label filters, line_format,
// label_format, drop, keep, decolorize) and an evaluation engine (Engine) for
// log and metric queries over an abstract Source.
//
// Semantics follow the Loki 3.x LogQL documentation; no Loki code is used.
// Notable choices where the documentation is silent are written next to the
// code and pinned by testdata/*.test, the data-driven conformance suite.
//
// Storage contract: the engine asks a Source for entries with SelectParams
// (tenant, [Start, End), stream matchers, direction) plus pushdown hints the
// store may use to skip data: LineFilters (|=, !=, |~, !~ acting on the stored
// line) and LabelFilters (matchers on stream labels and structured metadata
// placed before any parser). The engine re-applies every hint, so a store may
// ignore them; Limit is set only when the hints are the whole pipeline, and a
// store that honours it must apply them all (LineMatcher, MatchEntryLabels).
// memsource is a reference implementation.
//
// Errors: *ParseError (syntax, with line and column) and *QueryError (limits,
// pipeline errors in metric queries, bad ranges) are caused by the request;
// other errors come from the Source or the context.
//
// Concurrency: parsed expressions are immutable and safe for concurrent use.
// A Pipeline reuses buffers and must be used by one goroutine at a time.
// Engine is safe for concurrent use if its Source is.
package logql
