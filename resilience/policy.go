package resilience

import (
	"context"
	"fmt"
)

// A Policy wraps a call. Policies compose: the first one listed is the
// outermost, so Run(ctx, fn, a, b) runs a(b(fn)).
//
// Every policy of this package also implements an allocation-free internal
// fast path that a Pipeline uses; a Policy written elsewhere is called
// through Wrap.
type Policy interface {
	Wrap(next func(context.Context) error) func(context.Context) error
}

// stage is the fast path of this package's policies: run gets the rest of
// the pipeline as a value, so composing allocates nothing per call.
type stage interface {
	run(ctx context.Context, next chain) error
}

// chain is the rest of a pipeline: its remaining stages, then the call.
type chain struct {
	stages []stage
	fn     func(context.Context) error
}

func (c chain) call(ctx context.Context) error {
	if len(c.stages) == 0 {
		return c.fn(ctx)
	}
	return c.stages[0].run(ctx, chain{stages: c.stages[1:], fn: c.fn})
}

// wrap implements Policy.Wrap for a stage.
func wrap(s stage, next func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error { return s.run(ctx, chain{fn: next}) }
}

// foreign adapts a Policy written elsewhere.
type foreign struct{ p Policy }

func (f foreign) run(ctx context.Context, next chain) error { return f.p.Wrap(next.call)(ctx) }

// A Pipeline is a fixed composition of policies, built once and used for
// many calls; its Run allocates nothing of its own. A Pipeline is itself a
// Policy and is safe for concurrent use.
type Pipeline struct {
	stages []stage
}

// Compose returns the pipeline of the policies, the first one outermost.
// Nested pipelines are flattened. It panics if a policy is nil.
//
// The order this package recommends, outermost first:
//
//	Fallback → Timeout → Retry → Breaker → Bulkhead → call
//
// A Timeout outside Retry bounds the whole call, retries included (put one
// inside Retry to bound each attempt too); Retry outside the Breaker lets
// each attempt see the breaker's current state, and an open breaker fails
// attempts fast; the Bulkhead innermost holds a slot only while the call
// runs, and its rejections are not failures of the dependency (Breaker
// ignores ErrBulkheadFull by default).
func Compose(policies ...Policy) *Pipeline {
	p := &Pipeline{stages: make([]stage, 0, len(policies))}
	for i, pol := range policies {
		switch x := pol.(type) {
		case nil:
			panic(fmt.Sprintf("resilience: Compose: policy %d is nil", i))
		case *Pipeline:
			p.stages = append(p.stages, x.stages...)
		case stage:
			p.stages = append(p.stages, x)
		default:
			p.stages = append(p.stages, foreign{pol})
		}
	}
	return p
}

// Run calls fn under the pipeline's policies and returns fn's error or the
// error of the policy that stopped it.
func (p *Pipeline) Run(ctx context.Context, fn func(context.Context) error) error {
	return chain{stages: p.stages, fn: fn}.call(ctx)
}

// Wrap implements Policy.
func (p *Pipeline) Wrap(next func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error { return p.Run(ctx, next) }
}

// Run calls fn under the policies, the first one outermost. It composes the
// policies on every call; on a hot path build a Pipeline once with Compose.
func Run(ctx context.Context, fn func(context.Context) error, policies ...Policy) error {
	return Compose(policies...).Run(ctx, fn)
}
