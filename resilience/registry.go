package resilience

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// A Registry holds named breakers, created on first use with their
// configuration (or the registry's default), and shares one set of options
// among them (clock, meter provider, logger, store). It is safe for
// concurrent use.
type Registry struct {
	defaults BreakerConfig
	opts     []Option

	mu       sync.RWMutex
	configs  map[string]BreakerConfig
	breakers map[string]*Breaker
}

// NewRegistry returns a registry whose breakers use defaults unless
// Configure gave them their own configuration, and the options (those
// NewBreaker takes; WithInstanceID, if given, names this instance in every
// breaker).
func NewRegistry(defaults BreakerConfig, opts ...Option) (*Registry, error) {
	if _, err := defaults.normalize(); err != nil {
		return nil, err
	}
	if _, err := buildOptions("registry", opts); err != nil {
		return nil, err
	}
	return &Registry{
		defaults: defaults, opts: slices.Clone(opts),
		configs: make(map[string]BreakerConfig), breakers: make(map[string]*Breaker),
	}, nil
}

// Configure sets the configuration of the breaker name, which must not have
// been created yet.
func (r *Registry) Configure(name string, cfg BreakerConfig) error {
	if _, err := cfg.normalize(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.breakers[name]; ok {
		return fmt.Errorf("resilience: registry: breaker %q is already in use and keeps its configuration", name)
	}
	r.configs[name] = cfg
	return nil
}

// Breaker returns the breaker name, creating it on first use. A new
// breaker with a store reads its state from its stream first (bounded by
// ctx; if the store cannot be reached it starts closed and catches up
// later).
func (r *Registry) Breaker(ctx context.Context, name string) (*Breaker, error) {
	r.mu.RLock()
	b, ok := r.breakers[name]
	r.mu.RUnlock()
	if ok {
		return b, nil
	}
	r.mu.Lock()
	if b, ok = r.breakers[name]; ok {
		r.mu.Unlock()
		return b, nil
	}
	cfg, ok := r.configs[name]
	if !ok {
		cfg = r.defaults
	}
	b, err := NewBreaker(name, cfg, r.opts...)
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	r.breakers[name] = b
	r.mu.Unlock()
	_ = b.Sync(ctx) // best effort: the breaker works locally meanwhile
	return b, nil
}

// Execute runs fn under the breaker name.
func (r *Registry) Execute(ctx context.Context, name string, fn func(context.Context) error) error {
	b, err := r.Breaker(ctx, name)
	if err != nil {
		return err
	}
	return b.Run(ctx, fn)
}

func (r *Registry) lookup(name string) (*Breaker, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if b, ok := r.breakers[name]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownBreaker, name)
}

// State returns the state of the breaker name, or ErrUnknownBreaker.
func (r *Registry) State(name string) (State, error) {
	b, err := r.lookup(name)
	if err != nil {
		return 0, err
	}
	return b.State(), nil
}

// Metrics returns the metrics of the breaker name, or ErrUnknownBreaker.
func (r *Registry) Metrics(name string) (BreakerMetrics, error) {
	b, err := r.lookup(name)
	if err != nil {
		return BreakerMetrics{}, err
	}
	return b.Metrics(), nil
}

// Names returns the names of the breakers created so far, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.breakers))
	for n := range r.breakers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Close closes every breaker and returns their errors joined.
func (r *Registry) Close() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var errs []error
	for _, b := range r.breakers {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}
