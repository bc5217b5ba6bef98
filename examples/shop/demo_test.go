package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// The demo runs its scenario through the API and prints what the README
// promises: the outage compensated, the read models, the breaker's
// history, one trace.
func TestDemo(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(t.Context(), []string{"-demo"}, &out, &errs); code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	got := out.String()
	for _, want := range []string{
		"POST /users → 400 Malformed JSON",
		"POST /users → 422 Invalid event",
		"GET /orders/no-such-order → 404 Not Found",
		"POST /users/ada/deactivate → 412 Stale If-Match",
		"POST /orders #1 for ada, €30.00 → 201; fulfilment completed",
		"POST /orders #2 for bob, €12.50 → 201; fulfilment compensated",
		"POST /orders #3 for ada, €15.00 → 201; fulfilment compensated",
		"(the open breaker kept order #3 away from the provider: 4 calls before it, 4 after)",
		"POST /orders #4 for bob, €25.00 → 201; fulfilment completed",
		"SagaStepFailed              charge  attempt 3  payments: charge",
		"SagaStepFailed              charge  attempt 1  resilience: breaker \"payments\" is open",
		"ada  ada@example.com  verified=true\n  bob  bob@example.com  verified=true\n",
		"ada  order #1   €30.00 shipped\n  ada  order #3   €15.00 cancelled\n  bob  order #2   €12.50 cancelled\n  bob  order #4   €25.00 shipped\n",
		"EUR paid orders 2, gross €55.00, refunded €0.00, net €55.00",
		"  BreakerOpened      3 consecutive failures\n  BreakerHalfOpened  \n  BreakerClosed      probe succeeded\n  now closed\n",
		"  POST /orders\n    aggregate.create order\n",
		"    saga fulfilment step accept\n    saga fulfilment step reserve\n    saga fulfilment step charge\n",
		"    saga fulfilment step ship\n      aggregate.update order\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^\s+~ linked: projection orders_per_user handle$`).MatchString(got) {
		t.Errorf("the trace shows no projection batch linked to it")
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", got, errs.String())
	}
}
