// Package saga runs durable workflows: a saga is a process of named steps
// whose every step, failure and compensation is an event in its own stream
// ("chronicle-saga-<workflow>-<id>", a framework stream), so it survives any
// crash, runs on many instances without running a step twice at once, and
// can be read and replayed like any other stream.
//
// # Workflows
//
// A Definition is a name and Steps, run in order. Each step has an Action,
// an optional Compensate that undoes it, a retry policy (a
// resilience.Policy; DefaultRetry when nil) and a timeout per attempt:
//
//	def := saga.New("fulfilment",
//		saga.Step[Order]{Name: "reserve", Action: reserve, Compensate: release},
//		saga.Step[Order]{Name: "charge", Action: charge, Compensate: refund, Retry: paymentRetry},
//		saga.Step[Order]{Name: "ship", Action: ship},
//	)
//	engine, err := saga.NewEngine(store, registry, def)
//	state, err := engine.Start(ctx, orderID, order)
//
// The input is a value of a type registered in the schema registry: it is
// validated and recorded in the saga's first event. The state of a saga is
// the fold of its stream (Engine.Load): started, step started / succeeded /
// failed (with the attempt), compensation started, step compensated,
// completed, compensated, needs attention. When a step fails after its
// retries, the steps that succeeded are compensated in reverse order. A
// compensation that fails after its retries stops the saga in
// NeedsAttention with the error; Engine.Retry tries it again and
// Engine.SkipStep counts it as done by hand, both recorded as events.
//
// # Guarantees
//
// Actions run at least once; recorded effects exactly once. Every attempt is
// recorded (step started, with its number) before the action runs, and its
// outcome after, each append fenced by the expected revision of the saga's
// stream. An attempt interrupted by a crash is run again with the same
// attempt number, so with the same idempotency key StepContext.Key
// ("<workflow>/<id>/<step>/<attempt>"): pass it to the outside world, which
// can then apply each key's effect once. Events a step appends with
// StepContext.Append get IDs derived from the saga and the step, so
// appending them again after an append of unknown outcome is absorbed by the
// store's idempotency instead of writing twice.
//
// Tools without the step code (the chronicle CLI: `chronicle saga list`,
// `show`, `retry`, `skip-step`) read sagas with List, Read and History, and
// ask for a retry or a skip with RequestRetry and RequestSkip, which record
// the request for a running Engine to act on.
//
// # Many engines
//
// Engines over one store never run the same step of the same saga at once:
// an engine claims a step by appending "step started" at the stream's
// revision, with a lease of the step's timeout plus LeaseMargin; an engine
// that loses the append reloads, and one that finds a live lease of another
// engine leaves the saga to it (ErrLeased). Once a lease has expired — its
// engine died — any engine takes the step over; an engine restarted with the
// same WithInstanceID takes its own leases back at once. Engine.ResumeAll
// resumes every unfinished saga, and Engine.Run does so periodically.
//
// # Observability
//
// Each attempt of a step or compensation is a span ("saga <workflow> step
// <step>" / "… compensate <step>"); metrics chronicle.saga.started,
// chronicle.saga.ended (by status) and chronicle.saga.step.duration; logs
// through WithLogger. Only the OpenTelemetry API is used.
//
// # Process managers
//
// A Process is an event-driven saga: domain events start and advance its
// instances, one per correlation key (taken from the event, or its
// $correlationId), each with a state kept in its own stream
// "chronicle-process-<name>-<key>". A Manager feeds it through a
// projection.Runner (its checkpoints in the store), so there is one
// subscription loop in Chronicle, not two. Each input is recorded in the
// instance's stream before its handler runs (the stream is the instance's
// inbox and outbox): a redelivered event that was handled is ignored, and
// one whose handler did not finish is handled again. Handlers send commands
// through an aggregate.Repository with the context they are given, so the
// events those commands append carry the handled event as their cause, its
// correlation ID and its trace; Context.Emit appends events (compensating
// ones, notifications) with IDs derived from the input, so a handler run
// again writes nothing twice.
//
// # Deadlines
//
// A process handler schedules a deadline with Context.Schedule and cancels
// it with Context.Cancel; both are recorded with the handled input, so
// deadlines are durable: a manager arms a timer for every pending deadline
// when it starts (and every WithRescan interval, for deadlines other
// managers left), and when one comes it is recorded as reached and handed to
// the OnDeadline handler, fenced like any input. Time comes from an
// injectable clock (WithProcessClock), so tests move it by hand.
package saga
