package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// newTracerProvider returns the SDK's tracer provider exporting to OTLP over
// HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or its traces variant) is set,
// else to out as JSON lines when out is not nil, and to every extra
// exporter (the demo's in-memory one). The OTLP exporter reads the standard
// OTEL_EXPORTER_OTLP_* variables.
func newTracerProvider(ctx context.Context, out io.Writer, extra ...sdktrace.SpanExporter) (*sdktrace.TracerProvider, error) {
	var opts []sdktrace.TracerProviderOption
	switch {
	case os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	case out != nil:
		exp, err := stdouttrace.New(stdouttrace.WithWriter(out))
		if err != nil {
			return nil, fmt.Errorf("stdout exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	for _, exp := range extra {
		opts = append(opts, sdktrace.WithSyncer(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// spanTree renders the trace of root: its spans indented under their
// parents, in start order, and after each span the spans of other traces
// that link to it (consumers such as projections, which handle events of
// many traces in one batch, link to them instead of joining them).
func spanTree(spans tracetest.SpanStubs, root trace.TraceID) string {
	spans = slices.Clone(spans)
	slices.SortStableFunc(spans, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	children := map[trace.SpanID][]tracetest.SpanStub{}
	linked := map[trace.SpanID][]tracetest.SpanStub{}
	var roots []tracetest.SpanStub
	for _, s := range spans {
		if s.SpanContext.TraceID() != root {
			// Shown once, under the first span of the trace it links to.
			for _, l := range s.Links {
				if l.SpanContext.TraceID() == root {
					linked[l.SpanContext.SpanID()] = append(linked[l.SpanContext.SpanID()], s)
					break
				}
			}
			continue
		}
		if p := s.Parent; p.IsValid() && p.TraceID() == root {
			children[p.SpanID()] = append(children[p.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s tracetest.SpanStub, depth int)
	walk = func(s tracetest.SpanStub, depth int) {
		status := ""
		if s.Status.Code.String() == "Error" {
			status = " [error]"
		}
		fmt.Fprintf(&b, "%s%s%s\n", strings.Repeat("  ", depth), s.Name, status)
		for _, l := range linked[s.SpanContext.SpanID()] {
			fmt.Fprintf(&b, "%s~ linked: %s\n", strings.Repeat("  ", depth+1), l.Name)
		}
		for _, c := range children[s.SpanContext.SpanID()] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}
