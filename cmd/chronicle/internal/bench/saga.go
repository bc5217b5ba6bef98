package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

// sagaInput is the input of the bench's sagas.
type sagaInput struct {
	OrderID string `json:"orderId" jsonschema:"required,minLength=1"`
}

// sagaConcurrency is how many sagas run at once.
const sagaConcurrency = 32

// sagaEventsPerRun is what one three-step saga appends: started, a step
// started and succeeded per step, completed.
const sagaEventsPerRun = 1 + 2*3 + 1

// sagaSteps runs three-step sagas (steps that do nothing, so the store's
// durable appends are what is measured) from 32 goroutines until the time
// or event budget is spent, and returns the steps completed per second.
// Every step is two appends fenced by the saga's revision (step started,
// step succeeded) and a fold of the saga's stream.
func (r *runner) sagaSteps() (float64, error) {
	reg := schema.MustNewRegistry()
	if err := schema.Register[sagaInput](reg, "BenchSagaRequested", 1); err != nil {
		return 0, err
	}
	noop := func(context.Context, saga.StepContext[sagaInput]) error { return nil }
	step := func(name string) saga.Step[sagaInput] {
		return saga.Step[sagaInput]{Name: name, Action: noop, Compensate: noop}
	}
	// A workflow of its own per run: letters, digits and '_' only.
	def := saga.New("bench_"+r.prefix[len("bench-"):], step("reserve"), step("charge"), step("ship"))
	engine, err := saga.NewEngine(r.s, reg, def)
	if err != nil {
		return 0, err
	}
	var (
		sagas   atomic.Int64
		mu      sync.Mutex
		firstEr error
		wg      sync.WaitGroup
	)
	budget := int64(r.sz.MaxAppended / sagaEventsPerRun)
	start := time.Now()
	for w := range sagaConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At least one saga each, as timed does for appends.
			for i := 0; i == 0 || (time.Since(start) < r.sz.Append && sagas.Load() < budget); i++ {
				id := fmt.Sprintf("%d-%d", w, i)
				r.track(def.Stream(id))
				st, err := engine.Start(r.ctx, id, sagaInput{OrderID: id})
				if err == nil && st.Status != saga.Completed {
					err = fmt.Errorf("saga %s ended %s: %s", id, st.Status, st.Error)
				}
				if err != nil {
					mu.Lock()
					firstEr = cmpErr(firstEr, err)
					mu.Unlock()
					return
				}
				sagas.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r.total.Add(sagas.Load() * sagaEventsPerRun)
	return rate(int(sagas.Load())*3, elapsed), firstEr
}
