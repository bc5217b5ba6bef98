package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

// Config is what a Service is built from.
type Config struct {
	// Store holds every event: the domain's, the sagas', the breakers'.
	Store eventstore.Store
	// ReadModels is the directory of the SQLite read models, used unless
	// Postgres is set.
	ReadModels string
	// Postgres, when set, is the URL of the PostgreSQL database of the read
	// models.
	Postgres string
	// PostgresPrefix prefixes the names of the PostgreSQL schemas: the
	// read models' ("<prefix>users", …) and the control tables'
	// ("<prefix>chronicle"), so that services and test runs can share a
	// database. Empty means "shop_".
	PostgresPrefix string
	// The outside world. Nil means a fresh fake.
	Warehouse *Warehouse
	Payments  *Payments
	Mail      *Mail
	// Breakers configure the dependencies' breakers; zero values mean 3
	// failures and 5 s.
	Breakers BreakerSettings
	// TracerProvider receives the spans of the service and of the
	// framework; nil means none.
	TracerProvider trace.TracerProvider
	// Logger logs; nil means slog.Default().
	Logger *slog.Logger
	// WaitTimeout bounds how long a write waits for its read models
	// (read-your-writes); 0 means 5 s.
	WaitTimeout time.Duration
	// InstanceID names this instance of the service in the saga leases and
	// breaker events it writes; it must differ between instances running at
	// once and stay the same across restarts, so that a restarted instance
	// takes its own sagas back at once instead of waiting for their leases
	// to expire. Empty means the host name.
	InstanceID string
	// Sweep is how often Run resumes unfinished sagas and starts the
	// fulfilment of orders without one; 0 means 10 s, a negative value
	// never (tests that call StartUnfulfilled themselves).
	Sweep time.Duration
}

// Service is the shop: users and orders, their read models, the
// fulfilment saga and the dependencies it calls.
type Service struct {
	store    eventstore.Store
	domain   *onboarding.Service
	read     *ReadModels
	engine   *saga.Engine[Fulfilment]
	deps     *dependencies
	tracer   trace.Tracer
	log      *slog.Logger
	waitFor  time.Duration
	sweep    time.Duration
	newID    func() string
	sagas    sync.WaitGroup
	sagaCtx  context.Context
	stopSaga context.CancelFunc
}

// NewRegistry returns the registry of the shop's events: the onboarding
// domain's (with OrderPlaced v1 upcast to v2) and the saga's input.
func NewRegistry() (*schema.Registry, error) {
	reg, err := onboarding.NewRegistry()
	if err != nil {
		return nil, err
	}
	if err := schema.Register[Fulfilment](reg, "FulfilmentRequested", 1); err != nil {
		return nil, err
	}
	return reg, nil
}

// New builds the service over cfg.Store and publishes its event schemas
// there (refusing to start when a published schema changed without a new
// version). Call Run to run its projections and sagas' sweeps; to stop, stop
// taking requests, end Run, Drain, Close.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("shop: no store")
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Warehouse == nil {
		cfg.Warehouse = NewWarehouse(DefaultStock)
	}
	if cfg.Payments == nil {
		cfg.Payments = NewPayments()
	}
	if cfg.Mail == nil {
		cfg.Mail = NewMail()
	}
	if cfg.Breakers.Failures == 0 {
		cfg.Breakers.Failures = 3
	}
	if cfg.Breakers.Open == 0 {
		cfg.Breakers.Open = 5 * time.Second
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = 5 * time.Second
	}
	if cfg.Sweep == 0 {
		cfg.Sweep = 10 * time.Second
	}
	if cfg.InstanceID == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("instance ID: %w", err)
		}
		cfg.InstanceID = host
	}
	reg, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	if err := reg.Publish(ctx, cfg.Store); err != nil {
		return nil, fmt.Errorf("publish schemas: %w", err)
	}
	s := &Service{store: cfg.Store, tracer: tp.Tracer("github.com/chronicle-go/chronicle/examples/shop"),
		log: log, waitFor: cfg.WaitTimeout, sweep: cfg.Sweep, newID: func() string { return uuid.NewString() }}
	s.domain, err = onboarding.NewService(cfg.Store, reg, aggregate.WithTracerProvider(tp), aggregate.WithLogger(log))
	if err != nil {
		return nil, err
	}
	popts := []projection.Option{projection.WithTracerProvider(tp), projection.WithLogger(log)}
	if cfg.Postgres != "" {
		prefix := cfg.PostgresPrefix
		if prefix == "" {
			prefix = "shop_"
		}
		s.read, err = openPostgres(ctx, cfg.Store, reg, cfg.Postgres, prefix, popts...)
	} else {
		s.read, err = openSQLite(cfg.Store, reg, cfg.ReadModels, popts...)
	}
	if err != nil {
		return nil, err
	}
	s.deps, err = newDependencies(cfg.Store, cfg.Warehouse, cfg.Payments, cfg.Mail, cfg.Breakers,
		[]resilience.Option{resilience.WithTracerProvider(tp)}, cfg.InstanceID, log)
	if err != nil {
		return nil, errors.Join(err, s.read.Close())
	}
	s.engine, err = saga.NewEngine(cfg.Store, reg, fulfilment(s.domain.Orders, s.domain.Users, s.deps),
		saga.WithTracerProvider(tp), saga.WithLogger(log), saga.WithInstanceID(cfg.InstanceID))
	if err != nil {
		return nil, errors.Join(err, s.deps.close(), s.read.Close())
	}
	s.sagaCtx, s.stopSaga = context.WithCancel(context.Background())
	return s, nil
}

// DefaultStock is the warehouse's stock when Config.Warehouse is nil.
var DefaultStock = map[string]int{"BOOK-1": 100, "MUG-2": 20, "LAMP-3": 1}

// Run runs the projections, resumes unfinished sagas (those of a crashed
// instance, once their leases expire) and starts the fulfilment of orders
// that have none, every sweep interval, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var sagaErr error
	if s.sweep > 0 {
		wg.Go(func() { sagaErr = s.engine.Run(ctx, s.sweep) })
		wg.Go(func() { s.sweepUnfulfilled(ctx) })
	}
	err := s.read.Run(ctx)
	cancel()
	wg.Wait()
	return errors.Join(err, sagaErr)
}

// sweepUnfulfilled runs StartUnfulfilled once the orders read model has
// caught up, then every sweep interval, until ctx ends.
func (s *Service) sweepUnfulfilled(ctx context.Context) {
	if err := s.read.runners[projOrders].WaitCaughtUp(ctx); err != nil {
		return
	}
	t := time.NewTicker(s.sweep)
	defer t.Stop()
	for {
		if _, err := s.StartUnfulfilled(ctx, time.Now().Add(-s.sweep)); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweep for unfulfilled orders failed", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// StartUnfulfilled starts the fulfilment of every order placed before t
// that has none: PlaceOrder appends the order, then starts its saga, so a
// crash between the two leaves an order that only this finds. The sweep in
// Run passes the time one sweep interval ago, so that it does not race with
// requests that are starting their orders' sagas (which would be harmless:
// the saga's input is the same, and its stream admits one start). It
// returns how many it started.
func (s *Service) StartUnfulfilled(ctx context.Context, t time.Time) (int, error) {
	placed, err := s.read.Placed(ctx, t)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range placed {
		if _, err := s.engine.Load(ctx, id); !errors.Is(err, saga.ErrUnknownSaga) {
			continue
		}
		order, err := s.domain.Orders.Load(ctx, id)
		if err != nil {
			return n, err
		}
		// The saga continues the trace of the request that placed the order.
		sc := trace.SpanContext{}
		if e, err := s.first(ctx, onboarding.OrderType.Stream(id)); err == nil {
			var m schema.Metadata
			if m.UnmarshalJSON(e.Metadata) == nil {
				sc = m.SpanContext()
			}
		}
		s.startFulfilment(trace.ContextWithRemoteSpanContext(ctx, sc), Fulfilment{OrderID: id, UserID: order.State.UserID,
			Lines: order.State.Lines, TotalCents: order.State.TotalCents, Currency: order.State.Currency})
		n++
	}
	return n, nil
}

// Drain waits for the sagas started by requests to end. Once ctx ends, it
// cancels them and waits for them to return: each stops where its stream
// says it is, and Run resumes it at the next start.
func (s *Service) Drain(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.sagas.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.stopSaga()
		<-done
	}
}

// Close releases the breakers and the read models, after Run has returned
// and the sagas are drained. The caller closes the store afterwards.
func (s *Service) Close() error {
	s.stopSaga()
	return errors.Join(s.deps.close(), s.read.Close())
}

// wait gives read-your-writes: it returns once the projections have handled
// position p, or after the wait timeout (the write stands; the read models
// are only late).
func (s *Service) wait(ctx context.Context, p eventstore.Position, projections ...string) {
	ctx, cancel := context.WithTimeout(ctx, s.waitFor)
	defer cancel()
	if err := s.read.WaitFor(ctx, p, projections...); err != nil {
		s.log.WarnContext(ctx, "read models are behind", slog.String("position", p.String()), slog.Any("error", err))
	}
}

// RegisterUser signs a user up.
func (s *Service) RegisterUser(ctx context.Context, email, name string) (aggregate.Result[onboarding.User], error) {
	res, err := s.domain.Users.Create(ctx, s.newID(), onboarding.RegisterUser{Email: email, Name: name}.Decide,
		aggregate.WithCommandName("RegisterUser"))
	if err == nil {
		s.wait(ctx, res.Position, projUsers)
	}
	return res, err
}

// commandOptions name a command and, unless expected is Any, make it run
// only at that revision. (With Any the repository keeps its default: a
// conflict with a concurrent writer makes it decide again on fresh state;
// an expected revision, even Any, would turn the conflict into an error.)
func commandOptions(name string, expected eventstore.ExpectedRevision) []aggregate.CommandOption {
	opts := []aggregate.CommandOption{aggregate.WithCommandName(name)}
	if !expected.IsAny() {
		opts = append(opts, aggregate.WithExpectedRevision(expected))
	}
	return opts
}

// UpdateUser runs a user command, at the revision the caller read when
// expected is not Any.
func (s *Service) UpdateUser(ctx context.Context, id, name string, decide aggregate.Decision[onboarding.User], expected eventstore.ExpectedRevision) (aggregate.Result[onboarding.User], error) {
	res, err := s.domain.Users.Update(ctx, id, decide, commandOptions(name, expected)...)
	if err == nil {
		s.wait(ctx, res.Position, projUsers)
	}
	return res, err
}

// PlaceOrder places an order and starts its fulfilment, which goes on
// after the call returns (GET /orders/{id}/fulfilment follows it).
func (s *Service) PlaceOrder(ctx context.Context, cmd onboarding.PlaceOrder) (aggregate.Result[onboarding.Order], error) {
	id := s.newID()
	res, err := s.domain.PlaceOrder(ctx, id, cmd)
	if err != nil {
		return res, err
	}
	s.startFulfilment(ctx, Fulfilment{OrderID: id, UserID: cmd.UserID,
		Lines: cmd.Lines, TotalCents: cmd.TotalCents, Currency: cmd.Currency})
	s.wait(ctx, res.Position, projOrders, projRevenue)
	return res, nil
}

// startFulfilment runs the saga in the background, in the trace of ctx but
// not bound to its cancellation: the request ends long before the saga.
func (s *Service) startFulfilment(ctx context.Context, in Fulfilment) {
	ctx = trace.ContextWithSpanContext(s.sagaCtx, trace.SpanContextFromContext(ctx))
	s.sagas.Go(func() {
		st, err := s.engine.Start(ctx, in.OrderID, in)
		if err != nil {
			s.log.WarnContext(ctx, "fulfilment stopped", slog.String("order", in.OrderID), slog.Any("error", err))
			return
		}
		s.log.InfoContext(ctx, "fulfilment ended", slog.String("order", in.OrderID), slog.String("status", string(st.Status)))
	})
}

// UpdateOrder runs an order command at the revision the caller read.
func (s *Service) UpdateOrder(ctx context.Context, id, name string, decide aggregate.Decision[onboarding.Order], expected eventstore.ExpectedRevision) (aggregate.Result[onboarding.Order], error) {
	res, err := s.domain.Orders.Update(ctx, id, decide, commandOptions(name, expected)...)
	if err == nil {
		s.wait(ctx, res.Position, projOrders, projRevenue)
	}
	return res, err
}

// FulfilmentView is an order's fulfilment as the API shows it: the state of
// its saga and the saga's history.
type FulfilmentView struct {
	OrderID  string          `json:"orderId"`
	Status   saga.Status     `json:"status"`
	Error    string          `json:"error,omitempty"`
	Steps    []StepView      `json:"steps"`
	Started  time.Time       `json:"started,omitzero"`
	Updated  time.Time       `json:"updated,omitzero"`
	Timeline []TimelineEntry `json:"timeline"`
}

// StepView is one step of a fulfilment.
type StepView struct {
	Name                 string          `json:"name"`
	Status               saga.StepStatus `json:"status"`
	Attempts             int             `json:"attempts"`
	CompensationAttempts int             `json:"compensationAttempts,omitempty"`
	LastError            string          `json:"lastError,omitempty"`
}

// TimelineEntry is one event of a saga's stream.
type TimelineEntry struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Step     string    `json:"step,omitempty"`
	Attempt  int       `json:"attempt,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// fulfilmentView is the view of a saga's state and history.
func fulfilmentView(st saga.State, history []saga.Timeline) FulfilmentView {
	v := FulfilmentView{OrderID: st.ID, Status: st.Status, Error: st.Error, Started: st.Started, Updated: st.Updated,
		Steps: make([]StepView, len(st.Steps)), Timeline: make([]TimelineEntry, len(history))}
	for i, sp := range st.Steps {
		v.Steps[i] = StepView{Name: sp.Name, Status: sp.Status, Attempts: sp.Attempts,
			CompensationAttempts: sp.CompensationAttempts, LastError: sp.LastError}
	}
	for i, h := range history {
		v.Timeline[i] = TimelineEntry(h)
	}
	return v
}

// Pending is the status of a fulfilment that PlaceOrder has yet to record
// (it starts in the background).
const Pending saga.Status = "pending"

// Fulfilment returns the fulfilment of an order. Once it has ended, the
// call waits until the read models show its effects.
func (s *Service) Fulfilment(ctx context.Context, orderID string) (FulfilmentView, error) {
	st, err := s.engine.Load(ctx, orderID)
	if errors.Is(err, saga.ErrUnknownSaga) {
		if _, err := s.domain.Orders.Load(ctx, orderID); err != nil {
			return FulfilmentView{}, err
		}
		return fulfilmentView(saga.State{Name: FulfilmentSaga, ID: orderID, Status: Pending}, nil), nil
	}
	if err != nil {
		return FulfilmentView{}, err
	}
	tl, err := saga.History(ctx, s.store, saga.StreamOf(FulfilmentSaga, orderID))
	if err != nil {
		return FulfilmentView{}, err
	}
	if st.Status == saga.Completed || st.Status == saga.Compensated {
		p, err := s.head(ctx, onboarding.OrderType.Stream(orderID))
		if err != nil {
			return FulfilmentView{}, err
		}
		s.wait(ctx, p, projOrders, projRevenue)
	}
	return fulfilmentView(st, tl), nil
}

// head is the position of a stream's last event.
func (s *Service) head(ctx context.Context, stream string) (eventstore.Position, error) {
	e, err := s.one(ctx, stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1})
	return e.Position, err
}

// first is a stream's first event.
func (s *Service) first(ctx context.Context, stream string) (eventstore.RecordedEvent, error) {
	return s.one(ctx, stream, eventstore.ReadOptions{MaxCount: 1})
}

// one reads one event of a stream.
func (s *Service) one(ctx context.Context, stream string, opts eventstore.ReadOptions) (eventstore.RecordedEvent, error) {
	for e, err := range s.store.ReadStream(ctx, stream, opts) {
		return e, err
	}
	return eventstore.RecordedEvent{}, fmt.Errorf("%w: %s", eventstore.ErrStreamNotFound, stream)
}

// BreakerView is a breaker's current state and its transitions.
type BreakerView struct {
	Name    string              `json:"name"`
	State   string              `json:"state"`
	History []BreakerTransition `json:"history"`
}

// BreakerTransition is one event of a breaker's stream.
type BreakerTransition struct {
	Type string `json:"type"`
	resilience.BreakerEvent
}

// Breaker returns a breaker's state and history, read from its stream.
func (s *Service) Breaker(ctx context.Context, name string) (BreakerView, error) {
	for _, b := range s.deps.breakers {
		if b.Name() != name {
			continue
		}
		v := BreakerView{Name: name, State: b.State().String(), History: []BreakerTransition{}}
		for e, err := range s.store.ReadStream(ctx, resilience.BreakerStream(name), eventstore.ReadOptions{}) {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				break
			}
			if err != nil {
				return BreakerView{}, err
			}
			t := BreakerTransition{Type: e.Type}
			if err := json.Unmarshal(e.Data, &t.BreakerEvent); err != nil {
				return BreakerView{}, fmt.Errorf("breaker %s: event %d: %w", name, e.Revision, err)
			}
			v.History = append(v.History, t)
		}
		return v, nil
	}
	return BreakerView{}, fmt.Errorf("%w: breaker %q", aggregate.ErrNotFound, name)
}
