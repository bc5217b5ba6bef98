package resilience

import (
	"context"

	"go.opentelemetry.io/otel/metric"
)

const outcomeRejected = 3

var outcomeNames = [...]string{OutcomeSuccess: "success", OutcomeFailure: "failure", OutcomeIgnored: "ignored", outcomeRejected: "rejected"}

// breakerInstruments records a Breaker's metrics with attribute sets
// computed once, so that counting a call allocates nothing.
type breakerInstruments struct {
	name        string
	calls       metric.Int64Counter
	callOpts    [numStates][len(outcomeNames)][]metric.AddOption
	transitions metric.Int64Counter
	gauge       metric.Int64Gauge
	gaugeOpts   [numStates][]metric.RecordOption
}

func newBreakerInstruments(m metric.Meter, name string) breakerInstruments {
	bi := breakerInstruments{
		name:        name,
		calls:       newCounter(m, MetricBreakerCalls, "Calls through a Breaker, by state and outcome (success, failure, ignored, rejected)."),
		transitions: newCounter(m, MetricBreakerTransitions, "State transitions of a Breaker, by from and to state."),
		gauge:       newGauge(m, MetricBreakerState, "1 for a Breaker's current state, 0 for the others."),
	}
	for s := range State(numStates) {
		for o, on := range outcomeNames {
			bi.callOpts[s][o] = attrs(AttrName.String(name), AttrState.String(s.String()), AttrOutcome.String(on))
		}
		bi.gaugeOpts[s] = recordAttrs(AttrName.String(name), AttrState.String(s.String()))
	}
	return bi
}

// call counts a call by the state it met and its outcome, an index of
// outcomeNames.
func (bi *breakerInstruments) call(ctx context.Context, s State, o int) {
	bi.calls.Add(ctx, 1, bi.callOpts[s][o]...)
}

// state records the gauge: 1 for cur, 0 for prev (or for every other state
// when prev is numStates).
func (bi *breakerInstruments) state(cur, prev State) {
	ctx := context.Background()
	for s := range State(numStates) {
		if s == prev || (prev == numStates && s != cur) {
			bi.gauge.Record(ctx, 0, bi.gaugeOpts[s]...)
		}
	}
	bi.gauge.Record(ctx, 1, bi.gaugeOpts[cur]...)
}

func (bi *breakerInstruments) transition(from, to State) {
	bi.transitions.Add(context.Background(), 1,
		attrs(AttrName.String(bi.name), AttrFrom.String(from.String()), AttrTo.String(to.String()))...)
	bi.state(to, from)
}
