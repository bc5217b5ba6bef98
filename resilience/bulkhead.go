package resilience

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// BulkheadConfig configures a Bulkhead.
type BulkheadConfig struct {
	// MaxConcurrent is how many calls may run at once; at least 1.
	MaxConcurrent int
	// MaxQueue is how many calls may wait for a slot; 0 rejects at once
	// when every slot is busy.
	MaxQueue int
	// QueueTimeout, when positive, bounds how long a call waits in the
	// queue; 0 means until its context ends.
	QueueTimeout time.Duration
}

// Bulkhead bounds how many calls run at once, with a bounded queue of calls
// waiting for a slot (served roughly in arrival order). A call it does not
// run gets a *BulkheadError (ErrBulkheadFull) saying why. Taking a free slot
// allocates nothing.
type Bulkhead struct {
	name     string
	clock    Clock
	slots    chan struct{}
	maxQueue int64
	timeout  time.Duration
	queued   atomic.Int64
	obs      observer

	rejections                       metric.Int64Counter
	queueLen                         metric.Int64UpDownCounter
	fullOpts, timeoutOpts, cancelOpt []metric.AddOption
	queueOpts                        []metric.AddOption
}

// NewBulkhead validates cfg and returns a Bulkhead. It takes WithName,
// WithClock, WithMeterProvider, WithTracerProvider and WithListener.
func NewBulkhead(cfg BulkheadConfig, opts ...Option) (*Bulkhead, error) {
	o, err := buildOptions("bulkhead", opts)
	if err != nil {
		return nil, err
	}
	bad := func(field, reason string) (*Bulkhead, error) {
		return nil, &ConfigError{Policy: "bulkhead", Field: field, Reason: reason}
	}
	switch {
	case cfg.MaxConcurrent < 1:
		return bad("MaxConcurrent", "must be at least 1")
	case cfg.MaxQueue < 0:
		return bad("MaxQueue", "must not be negative")
	case cfg.QueueTimeout < 0:
		return bad("QueueTimeout", "must not be negative")
	case cfg.QueueTimeout > 0 && cfg.MaxQueue == 0:
		return bad("QueueTimeout", "needs MaxQueue > 0")
	}
	m := o.meter.Meter(meterName)
	reason := func(r RejectReason) []metric.AddOption {
		return attrs(AttrName.String(o.name), AttrReason.String(r.String()))
	}
	return &Bulkhead{
		name: o.name, clock: o.clock, slots: make(chan struct{}, cfg.MaxConcurrent),
		maxQueue: int64(cfg.MaxQueue), timeout: cfg.QueueTimeout, obs: newObserver("bulkhead", o.name, o),
		rejections: newCounter(m, MetricBulkheadRejections, "Calls a Bulkhead rejected, by reason (full, queue_timeout, canceled)."),
		queueLen:   newUpDown(m, MetricBulkheadQueueLength, "Calls waiting in a Bulkhead's queue."),
		fullOpts:   reason(RejectFull), timeoutOpts: reason(RejectQueueTimeout), cancelOpt: reason(RejectCanceled),
		queueOpts: attrs(AttrName.String(o.name)),
	}, nil
}

// Running returns how many calls hold a slot.
func (b *Bulkhead) Running() int { return len(b.slots) }

// Queued returns how many calls wait for a slot.
func (b *Bulkhead) Queued() int { return int(b.queued.Load()) }

// Wrap implements Policy.
func (b *Bulkhead) Wrap(next func(context.Context) error) func(context.Context) error {
	return wrap(b, next)
}

func (b *Bulkhead) run(ctx context.Context, next chain) (err error) {
	ctx, span := b.obs.start(ctx)
	if span != nil {
		defer func() { b.obs.end(span, err) }()
	}
	select {
	case b.slots <- struct{}{}:
	default:
		if err := b.wait(ctx); err != nil {
			return err
		}
	}
	defer func() { <-b.slots }()
	return next.call(ctx)
}

// wait queues for a slot.
func (b *Bulkhead) wait(ctx context.Context) error {
	if b.queued.Add(1) > b.maxQueue {
		b.queued.Add(-1)
		return b.reject(ctx, RejectFull, nil)
	}
	b.queueLen.Add(ctx, 1, b.queueOpts...)
	defer func() {
		b.queued.Add(-1)
		b.queueLen.Add(ctx, -1, b.queueOpts...)
	}()
	var expired chan struct{}
	if b.timeout > 0 {
		expired = make(chan struct{})
		stop := b.clock.AfterFunc(b.timeout, func() { close(expired) })
		defer stop()
	}
	select {
	case b.slots <- struct{}{}:
		return nil
	case <-expired:
		return b.reject(ctx, RejectQueueTimeout, nil)
	case <-ctx.Done():
		return b.reject(ctx, RejectCanceled, ctx.Err())
	}
}

func (b *Bulkhead) reject(ctx context.Context, why RejectReason, err error) error {
	opts := b.fullOpts
	switch why {
	case RejectQueueTimeout:
		opts = b.timeoutOpts
	case RejectCanceled:
		opts = b.cancelOpt
	}
	b.rejections.Add(ctx, 1, opts...)
	b.obs.notify(ctx, Event{Kind: BulkheadRejected, Reason: why, Err: err})
	return &BulkheadError{Name: b.name, Reason: why, Err: err}
}
