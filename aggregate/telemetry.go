package aggregate

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Span attribute keys.
const (
	attrCategory = "chronicle.aggregate.category"
	attrStream   = "chronicle.stream"
	attrCommand  = "chronicle.aggregate.command"
	// attrCommandName is the name WithCommandName gives a command.
	attrCommandName = "chronicle.aggregate.command.name"
	attrAttempts    = "chronicle.aggregate.attempts"
	attrOutcome     = "chronicle.aggregate.outcome"
	attrRevision    = "chronicle.revision"
	attrEvents      = "chronicle.aggregate.events"
)

// Log attribute keys.
const (
	logStream        = "stream"
	logCorrelationID = "correlation_id"
	logRevision      = "revision"
	logCommand       = "command"
	logCommandName   = "command_name"
	logOutcome       = "outcome"
	logEvents        = "events"
	logAttempt       = "attempt"
	logDelay         = "delay"
	logError         = "error"
)

// Command outcomes, the "outcome" attribute of spans and of the
// chronicle.aggregate.commands metric.
const (
	outcomeOK            = "ok"
	outcomeRejected      = "rejected"
	outcomeConflict      = "conflict"
	outcomeNotFound      = "not_found"
	outcomeAlreadyExists = "already_exists"
	outcomeInvalid       = "invalid_event"
	outcomeWrongVersion  = "wrong_expected_version"
	outcomeAfterAppend   = "after_append_failed"
	outcomeError         = "error"
)

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrConflict):
		return outcomeConflict
	case errors.Is(err, ErrAfterAppend):
		return outcomeAfterAppend
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		return outcomeWrongVersion
	case errors.Is(err, ErrNotFound):
		return outcomeNotFound
	case errors.Is(err, ErrAlreadyExists):
		return outcomeAlreadyExists
	case errors.Is(err, ErrInvalidEvent):
		return outcomeInvalid
	case errors.Is(err, ErrRejected):
		return outcomeRejected
	}
	return outcomeError
}

// metrics are the repository's instruments:
//
//	chronicle.aggregate.commands          counter   category, command, outcome
//	chronicle.aggregate.command.duration  histogram category, command, outcome (s)
//	chronicle.aggregate.conflicts         counter   category
//	chronicle.aggregate.events.loaded     counter   category
//	chronicle.aggregate.snapshots         counter   category
type metrics struct {
	commands  metric.Int64Counter
	duration  metric.Float64Histogram
	conflicts metric.Int64Counter
	loaded    metric.Int64Counter
	snapshots metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter(instrumentationName)
	var (
		ms   metrics
		errs [5]error
	)
	ms.commands, errs[0] = m.Int64Counter("chronicle.aggregate.commands",
		metric.WithDescription("Commands run, by outcome."), metric.WithUnit("{command}"))
	ms.duration, errs[1] = m.Float64Histogram("chronicle.aggregate.command.duration",
		metric.WithDescription("Time to run a command, retries included."), metric.WithUnit("s"))
	ms.conflicts, errs[2] = m.Int64Counter("chronicle.aggregate.conflicts",
		metric.WithDescription("Appends that lost a concurrency race and were decided again."), metric.WithUnit("{conflict}"))
	ms.loaded, errs[3] = m.Int64Counter("chronicle.aggregate.events.loaded",
		metric.WithDescription("Events read and applied to rebuild aggregates."), metric.WithUnit("{event}"))
	ms.snapshots, errs[4] = m.Int64Counter("chronicle.aggregate.snapshots",
		metric.WithDescription("Snapshots taken."), metric.WithUnit("{snapshot}"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, errors.Join(ErrInvalidOption, err)
	}
	return &ms, nil
}

func (m *metrics) record(ctx context.Context, category string, md mode, name, outcome string, d time.Duration) {
	kv := []attribute.KeyValue{
		attribute.String(attrCategory, category),
		attribute.String(attrCommand, md.String()),
		attribute.String(attrOutcome, outcome),
	}
	if name != "" {
		kv = append(kv, attribute.String(attrCommandName, name))
	}
	attrs := metric.WithAttributes(kv...)
	m.commands.Add(ctx, 1, attrs)
	m.duration.Record(ctx, d.Seconds(), attrs)
}

func categoryAttr(category string) metric.AddOption {
	return metric.WithAttributes(attribute.String(attrCategory, category))
}
