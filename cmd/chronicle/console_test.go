package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// startConsole runs `chronicle console args...` on a free loopback port and
// returns the URL it printed and a function that stops it (as SIGINT would)
// and returns its error and the output printed since the URL.
func startConsole(t *testing.T, args ...string) (string, func() (error, string)) {
	t.Helper()
	u, stop, out := startCommand(t, "its URL", append([]string{"console", "--addr", "127.0.0.1:0"}, args...), func(line string) (string, bool) {
		if i := strings.Index(line, "http://"); i >= 0 && strings.HasPrefix(line, "Console for ") {
			return line[i:], true
		}
		var started map[string]any // --json
		if json.Unmarshal([]byte(line), &started) == nil && started["event"] == "serving" {
			return started["url"].(string), true
		}
		return "", false
	})
	return u, func() (error, string) {
		err := stop()
		var rest []string
		for len(out.ch) > 0 {
			rest = append(rest, <-out.ch)
		}
		return err, strings.Join(rest, "\n")
	}
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestConsole(t *testing.T) {
	storeURL, store := newStore(t, "events")
	if _, err := store.Append(context.Background(), "order-1", eventstore.NoStream,
		eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"note":"<script>x()</script>"}`)}); err != nil {
		t.Fatal(err)
	}
	base, stop := startConsole(t, "--store", storeURL)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("URL %q is not on loopback", base)
	}
	code, body := httpGet(t, base+"stream?name=order-1")
	if code != http.StatusOK || !strings.Contains(body, "OrderPlaced") || !strings.Contains(body, "&lt;script&gt;x()") || !strings.Contains(body, "read-only") {
		t.Fatalf("stream page: %d\n%s", code, body)
	}
	if code, _ := httpGet(t, base+"stream?name=order-2"); code != http.StatusNotFound {
		t.Fatalf("unknown stream: %d", code)
	}
	res, err := http.PostForm(base+"actions/replay-parked", url.Values{"projection": {"orders"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("action without --actions: %d", res.StatusCode)
	}
	if err, out := stop(); err != nil || !strings.Contains(out, "Stopped.") {
		t.Fatalf("stop: %v, output %q", err, out)
	}
}

func TestConsoleActionsJSON(t *testing.T) {
	storeURL, _ := newStore(t, "events")
	base, stop := startConsole(t, "--store", storeURL, "--actions", "--json")
	if code, body := httpGet(t, base); code != http.StatusOK || !strings.Contains(body, "actions enabled") {
		t.Fatalf("overview: %d\n%s", code, body)
	}
	if err, out := stop(); err != nil || !strings.Contains(out, `"event":"stopped"`) {
		t.Fatalf("stop: %v, output %q", err, out)
	}
}

func TestConsoleBadFlags(t *testing.T) {
	storeURL, _ := newStore(t, "events")
	for name, args := range map[string][]string{
		"address":         {"console", "--store", storeURL, "--addr", "127.0.0.1:99999"},
		"sqlite":          {"console", "--store", storeURL, "--sqlite", t.TempDir()},
		"postgres-schema": {"console", "--store", storeURL, "--postgres-schema", "x"},
		"argument":        {"console", "--store", storeURL, "extra"},
		"store":           {"console", "--store", "nope://x"},
	} {
		t.Run(name, func(t *testing.T) {
			root := newRootCmd()
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)
			root.SetArgs(args)
			if err := root.ExecuteContext(context.Background()); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
