package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/projection"
)

// This file holds `chronicle projection`: status, parked and replay-parked.
// They read what projection runners keep in the event store: checkpoint
// streams (projection.StreamCheckpoints) and parked streams.

// newProjectionCmd returns `chronicle projection` and its subcommands.
func newProjectionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projection",
		Short: "Inspect projections: status, parked events, replays",
		Long: `projection inspects the projections whose runners keep their checkpoints in
the event store (projection.NewStreamCheckpoints): their checkpoint streams
chronicle-checkpoint-<name>[-v<version>][-p<partition>] and parked streams
chronicle-parked-<name>.

Projections whose checkpoints live in a SQL read-model database
(projection/postgres, projection/sqlite) keep them there, not in the store:
status lists them from that database with --postgres URL or --sqlite DIR.`,
	}
	cmd.AddCommand(newProjectionStatusCmd(), newProjectionParkedCmd(), newProjectionReplayCmd())
	return cmd
}

func newProjectionStatusCmd() *cobra.Command {
	var (
		asJSON bool
		sql    sqlFlags
	)
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Checkpoints, lag, parked events and rebuild progress of projections",
		Long: `status lists the projections found in the store, one row per version: its
checkpoint (for partitioned runners, the gap-free one; --json also lists each
partition's), the head, the lag, the unresolved parked events of that version
and the progress of a catch-up or rebuild.

HEAD is the position of the newest application event: $all without
Chronicle's own streams, whose writes (checkpoints, parked events) come after
a caught-up projection's checkpoint and are no work for it. LAG is HEAD minus
the checkpoint, in positions: events, on the embedded stores; an estimate on
EventStoreDB, whose positions are log offsets. In brackets (lagSeconds in
--json): how much older the event at the checkpoint is than the head event.
A projection of one stream has revision checkpoints, which do not compare
with positions: its lag is not shown.

RATE is how fast the checkpoint moved between the oldest and the newest
checkpoint event the stream keeps (its $maxCount keeps the last 10), in
positions per second of the events' creation times: while a runner catches
up or rebuilds it is its speed, once it is live it is the rate of new events.
ETA is LAG / RATE. LAST CHECKPOINT is when the newest checkpoint event was
written: a runner saves every N events or T seconds and when it stops, so an
old one on a lagging projection means no runner is making progress.

STATE is "caught up" (lag 0), "behind" (lag > 0), or "rebuilding" for the
newest version while an older one's checkpoint is ahead of it; an older
version is "ahead of vN" until the newest version N reaches its checkpoint,
then "superseded by vN". The SQL targets record which version is live: the
live version is "caught up" or "behind", newer ones "rebuilding", older ones
"retired"; their RATE is the average since the version was prepared (from
the first checkpoint it saved to its current one).

--postgres URL lists the projections a projection/postgres target keeps in
that database (its control schema: --postgres-schema; the target creates
its control tables if they are missing), --sqlite DIR those a
projection/sqlite target keeps in that directory. SOURCE in --json says
where a row's checkpoints are: "store", "postgres" or "sqlite".

Finding projections reads $all through a stream-prefix filter: it takes as
long as reading every event (memory stays bounded). An embedded store that
the running service has open for writing is opened read-only.`,
		Example: `  chronicle projection status
  chronicle projection status balances --json
  chronicle projection status --sqlite ./readmodels --postgres postgres://localhost/app`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
				if err := checkName("projection status", name); err != nil {
					return err
				}
			}
			const op = "projection status"
			store, err := openReading(cmd, op)
			if err != nil {
				return err
			}
			defer store.Close()
			sources, closeSources, err := sql.open(cmd, op)
			defer closeSources()
			if err != nil {
				return err
			}
			rows, err := projectionStatus(cmd.Context(), store, name, cmd.ErrOrStderr(), sources...)
			if err != nil {
				return err
			}
			if name != "" && len(rows) == 0 {
				return unknownProjection(op, name)
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			if err := printStatus(out, rows, asJSON, time.Now()); err != nil {
				return err
			}
			if err := out.Flush(); err != nil {
				return err
			}
			if n := countErrors(rows); n > 0 {
				return fmt.Errorf("projection status: %d checkpoint stream(s) could not be read", n)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per projection version and line")
	sql.add(cmd)
	return cmd
}

func newProjectionParkedCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "parked NAME",
		Short: "List a projection's unresolved parked events",
		Long: `parked lists the events projection NAME parked and has not resolved yet, in
the order they were parked: the event (stream@revision, position, type), the
version that parked it, why (failed: its handler kept failing; undecodable;
blocked: an earlier event of its partition key is parked), the attempts, the
error and the error of the last failed replay. --json prints one
projection.ParkedEvent per line.`,
		Example: `  chronicle projection parked balances
  chronicle projection parked balances --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			parked, err := loadParked(cmd, "projection parked", args[0])
			if err != nil {
				return err
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			if err := printParked(out, args[0], parked, asJSON); err != nil {
				return err
			}
			return out.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per parked event and line")
	return cmd
}

// replayRequest is the --json output of replay-parked.
type replayRequest struct {
	Projection string `json:"projection"`
	// Requested is false when nothing was parked, so nothing was appended.
	Requested  bool   `json:"requested"`
	Unresolved int    `json:"unresolved"`
	Stream     string `json:"stream"`
}

func newProjectionReplayCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay-parked NAME",
		Short: "Ask the running projection to replay its parked events",
		Long: `replay-parked appends a replay request to projection NAME's parked stream
(projection.RequestReplay). The projection's running runners follow that
stream: between two batches they hand every unresolved parked event to its
handler again, in the order they were parked, record each one that succeeds
as resolved (and unblock its partition key once all of the key's are) and
record the new error of each one that fails again.

A runner that is running carries it out at once; when none is, the next one
to start does (a request not yet followed by a replay is still pending).
When nothing is parked, nothing is appended. Check the outcome with 'chronicle projection parked NAME'. With
--json it prints one object: projection, requested (false when nothing was
parked), unresolved (the parked events the request covers) and stream.

An embedded (SQLite) store has one writer: while the service has it open,
another process cannot append the request. Call Runner.ReplayParked in the
service then, or serve its store over the EventStoreDB protocol and point
--store at that address. (status and parked only read: they open such a
store read-only.)`,
		Example: `  chronicle projection replay-parked balances
  chronicle projection replay-parked balances --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			const op = "projection replay-parked"
			parked, err := loadParked(cmd, op, name)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			res := replayRequest{Projection: name, Unresolved: len(parked), Stream: projection.ParkedStream(name)}
			if len(parked) == 0 {
				if asJSON {
					return jsonLines(out, []replayRequest{res})
				}
				_, err := fmt.Fprintf(out, "projection %s has no unresolved parked events; nothing requested\n", name)
				return err
			}
			store, err := openStore(cmd, op)
			if errors.Is(err, sqlite.ErrLocked) {
				return fmt.Errorf("%w\nThe embedded store is open for writing by another process, the running service: "+
					"a replay request has to go through it. Call Runner.ReplayParked in the service, or serve its store "+
					"(chronicle serve, eventstore/esdbserver) and point --store at that esdb:// address", err)
			}
			if err != nil {
				return err
			}
			defer store.Close()
			if err := projection.RequestReplay(cmd.Context(), store, name); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			if res.Requested = true; asJSON {
				return jsonLines(out, []replayRequest{res})
			}
			_, err = fmt.Fprintf(out, `requested a replay of the %d unresolved parked event(s) of projection %s
(a %s event in %s).
A running runner of %s replays them between two batches (or the next one
to start, if none runs now). Check the outcome with:
  chronicle projection parked %s
Resolved events leave the list; events that failed again stay, with the new
error under REPLAY ERROR.
`, len(parked), name, projection.ReplayRequestedEventType, projection.ParkedStream(name), name, name)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: projection, requested, unresolved, stream")
	return cmd
}

// openReading opens --store for a command that only reads. An embedded store
// that another process (the running service) has open for writing is opened
// read-only instead, as SQLite allows.
func openReading(cmd *cobra.Command, op string) (eventstore.Store, error) {
	s, err := openStore(cmd, op)
	if !errors.Is(err, sqlite.ErrLocked) {
		return s, err
	}
	raw, _ := cmd.Flags().GetString("store")
	if raw == "" {
		raw = eventstore.DefaultURL
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("readonly", "true")
	u.RawQuery = q.Encode()
	s, err = eventstore.Open(cmd.Context(), u.String())
	if err != nil {
		return nil, fmt.Errorf("%s: open store read-only: %w", op, err)
	}
	return s, nil
}

// nameRE is the rule projection.New applies to projection names.
var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]*$`)

// checkName refuses a projection name projection.New would refuse: a usage
// error (exit status 2).
func checkName(op, name string) error {
	if !nameRE.MatchString(name) {
		return usagef("%s: %q is not a projection name (letters, digits, '_' and '.', starting with a letter)", op, name)
	}
	return nil
}

// unknownProjection is the error for a projection with no stream of its
// own; it matches eventstore.ErrStreamNotFound (exit status 3).
func unknownProjection(op, name string) error {
	return fmt.Errorf("%s: no projection %q in the store: no checkpoint stream %s[-v<version>][-p<partition>] and no parked stream %s (%w)",
		op, name, projection.CheckpointStream(projection.Key{Projection: name, Version: 1}), projection.ParkedStream(name), eventstore.ErrStreamNotFound)
}

// loadParked opens the store and returns the unresolved parked events of a
// projection the store knows.
func loadParked(cmd *cobra.Command, op, name string) ([]projection.ParkedEvent, error) {
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	store, err := openReading(cmd, op)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	ctx := cmd.Context()
	known, err := streamExists(ctx, store, projection.ParkedStream(name))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if !known {
		found, err := findProjections(ctx, store, name, io.Discard)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if found[name] == nil {
			return nil, unknownProjection(op, name)
		}
	}
	parked, err := projection.ListParked(ctx, store, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return parked, nil
}

// streamExists reports whether stream has events to read.
func streamExists(ctx context.Context, store eventstore.Store, stream string) (bool, error) {
	_, ok, err := edgeEvent(ctx, store, stream, eventstore.Forwards)
	return ok, err
}

// edgeEvent returns the first (Forwards) or last (Backwards) event of a
// stream; ok is false when the stream does not exist.
func edgeEvent(ctx context.Context, store eventstore.Store, stream string, dir eventstore.Direction) (e eventstore.RecordedEvent, ok bool, err error) {
	from := eventstore.Start
	if dir == eventstore.Backwards {
		from = eventstore.End
	}
	for e, err := range store.ReadStream(ctx, stream, eventstore.ReadOptions{Direction: dir, From: from, MaxCount: 1}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return e, false, nil
		}
		if err != nil {
			return e, false, fmt.Errorf("read %s: %w", stream, err)
		}
		return e, true, nil
	}
	return e, false, nil
}

// headEvent returns the newest event of $all that f keeps (every event when
// f is nil); the zero event when there is none.
func headEvent(ctx context.Context, store eventstore.Store, f *eventstore.Filter) (eventstore.RecordedEvent, error) {
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1, Filter: f}) {
		if err != nil {
			return e, fmt.Errorf("read $all: %w", err)
		}
		return e, nil
	}
	return eventstore.RecordedEvent{}, nil
}

// eventAt returns when the event at position p of $all was created; zero
// when there is none.
func eventAt(ctx context.Context, store eventstore.Store, p eventstore.Position) (time.Time, error) {
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.FromPosition(p), MaxCount: 1}) {
		if err != nil {
			return time.Time{}, fmt.Errorf("read $all at %v: %w", p, err)
		}
		return e.Created, nil
	}
	return time.Time{}, nil
}

// A found projection: the checkpoint keys and whether a parked stream
// exists.
type foundProjection struct {
	keys   []projection.Key
	parked bool
}

var (
	checkpointPrefix = eventstore.FrameworkStream("checkpoint", "") + "-"
	parkedPrefix     = eventstore.FrameworkStream("parked", "") + "-"
)

// findProjections finds the projections (only name, when set) that have a
// checkpoint or parked stream, by reading $all through a stream-prefix
// filter. Streams under the checkpoint prefix whose names do not follow the
// rule are reported on warn and left out.
func findProjections(ctx context.Context, store eventstore.Store, name string, warn io.Writer) (map[string]*foundProjection, error) {
	f := eventstore.StreamPrefixFilter(checkpointPrefix+name, parkedPrefix+name)
	seen := make(map[string]bool)
	found := make(map[string]*foundProjection)
	get := func(n string) *foundProjection {
		if found[n] == nil {
			found[n] = &foundProjection{}
		}
		return found[n]
	}
	for e, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{Filter: f}) {
		if err != nil {
			return nil, fmt.Errorf("read $all: %w", err)
		}
		if seen[e.Stream] {
			continue
		}
		seen[e.Stream] = true
		if rest, ok := strings.CutPrefix(e.Stream, parkedPrefix); ok {
			if nameRE.MatchString(rest) && (name == "" || rest == name) {
				get(rest).parked = true
			}
			continue
		}
		key, ok := parseCheckpointStream(e.Stream)
		switch {
		case !ok:
			fmt.Fprintf(warn, "chronicle: %s is not a checkpoint stream name; left out\n", e.Stream)
		case name == "" || key.Projection == name:
			p := get(key.Projection)
			p.keys = append(p.keys, key)
		}
	}
	return found, nil
}

// parseCheckpointStream reads the key back from a projection.CheckpointStream
// name.
func parseCheckpointStream(stream string) (projection.Key, bool) {
	rest, ok := strings.CutPrefix(stream, checkpointPrefix)
	if !ok {
		return projection.Key{}, false
	}
	parts := strings.Split(rest, "-")
	key := projection.Key{Projection: parts[0], Version: 1}
	parts = parts[1:]
	num := func(prefix string, dst *int) bool {
		if len(parts) == 0 || !strings.HasPrefix(parts[0], prefix) {
			return true
		}
		n, err := strconv.Atoi(parts[0][1:])
		if err != nil || n < 0 {
			return false
		}
		*dst, parts = n, parts[1:]
		return true
	}
	if !nameRE.MatchString(key.Projection) || !num("v", &key.Version) || !num("p", &key.Partition) || len(parts) > 0 {
		return projection.Key{}, false
	}
	// Only the canonical spelling (no "-v1", no "-p0") is a checkpoint stream.
	return key, projection.CheckpointStream(key) == stream
}

// A versionInfo is what a checkpoint source knows of one version of a
// projection.
type versionInfo struct {
	source     string // where the checkpoints are: "store", or a read-model database
	projection string
	version    int
	// partitions are the version's stored checkpoints in partition order:
	// partition 0 is the runner's own (the gap-free one of a partitioned
	// runner).
	partitions []storedCheckpoint
	// liveKnown: the source knows which version serves readers (live; 0
	// when none was promoted), as the rebuild targets do.
	liveKnown bool
	live      int
}

// A storedCheckpoint is one stored checkpoint, when it was saved, and an
// earlier one of the same partition with its time, for the rate.
type storedCheckpoint struct {
	partition  int
	checkpoint projection.Checkpoint
	saved      time.Time
	since      checkpointMark
	err        error // the checkpoint could not be read
}

// A checkpointMark is a checkpoint and when it was written.
type checkpointMark struct {
	cp projection.Checkpoint
	at time.Time
}

// A checkpointSource lists the versions of the projections whose
// checkpoints it keeps (only name's when name is set). status reads the
// event store's checkpoint streams (storeVersions); the SQL targets keep
// theirs in the read-model database and plug in here.
type checkpointSource interface {
	versions(ctx context.Context, name string) ([]versionInfo, error)
}

// storeVersions reads the checkpoints of the found projections from their
// checkpoint streams.
func storeVersions(ctx context.Context, store eventstore.Store, found map[string]*foundProjection) ([]versionInfo, error) {
	cps := projection.NewStreamCheckpoints(store)
	byKey := make(map[[2]any]*versionInfo)
	var out []*versionInfo
	for _, name := range slices.Sorted(maps.Keys(found)) {
		keys := slices.Clone(found[name].keys)
		slices.SortFunc(keys, func(a, b projection.Key) int {
			return cmp.Or(cmp.Compare(a.Version, b.Version), cmp.Compare(a.Partition, b.Partition))
		})
		for _, key := range keys {
			vi := byKey[[2]any{name, key.Version}]
			if vi == nil {
				vi = &versionInfo{source: "store", projection: name, version: key.Version}
				byKey[[2]any{name, key.Version}] = vi
				out = append(out, vi)
			}
			sc, err := streamCheckpoint(ctx, store, cps, key)
			if err != nil {
				return nil, err
			}
			vi.partitions = append(vi.partitions, sc)
		}
	}
	infos := make([]versionInfo, len(out))
	for i, vi := range out {
		infos[i] = *vi
	}
	return infos, nil
}

// streamCheckpoint reads key's checkpoint (as a runner would load it) and
// the oldest and newest checkpoint events its stream keeps. A stream that
// holds something else is reported in the checkpoint's err.
func streamCheckpoint(ctx context.Context, store eventstore.Store, cps *projection.StreamCheckpoints, key projection.Key) (storedCheckpoint, error) {
	sc := storedCheckpoint{partition: key.Partition}
	cp, err := cps.Load(ctx, key)
	if errors.Is(err, projection.ErrCheckpointMismatch) || errors.Is(err, projection.ErrInvalidCheckpoint) {
		sc.err = err
		return sc, nil
	}
	if err != nil {
		return sc, err
	}
	sc.checkpoint = cp
	stream := projection.CheckpointStream(key)
	for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
		e, ok, err := edgeEvent(ctx, store, stream, dir)
		if err != nil {
			return sc, err
		}
		var d struct {
			Checkpoint string `json:"checkpoint"`
		}
		if !ok || json.Unmarshal(e.Data, &d) != nil {
			continue
		}
		mark := checkpointMark{at: e.Created}
		if mark.cp, err = projection.ParseCheckpoint(d.Checkpoint); err != nil {
			continue
		}
		if dir == eventstore.Forwards {
			sc.since = mark
		} else {
			sc.saved = mark.at
		}
	}
	return sc, nil
}

// A statusRow is one version of a projection, as status prints it.
type statusRow struct {
	Projection string `json:"projection"`
	Version    int    `json:"version"`
	State      string `json:"state"`
	// Source is where the checkpoints are: "store" (checkpoint streams), or
	// "-" for a version known only from its parked events.
	Source string `json:"source"`
	// Checkpoint is the version's checkpoint: partition 0's, the gap-free
	// one of a partitioned runner.
	Checkpoint string            `json:"checkpoint"`
	Partitions []partitionStatus `json:"partitions,omitempty"`
	Head       string            `json:"head"` // newest application event
	AllHead    string            `json:"allHead"`
	Lag        *uint64           `json:"lag"` // nil for revision checkpoints
	// LagSeconds is how much older the event at the checkpoint is than the
	// head event.
	LagSeconds float64         `json:"lagSeconds"`
	Parked     int             `json:"parked"`
	Progress   *progressStatus `json:"progress,omitempty"`
	LastSaved  *time.Time      `json:"lastCheckpointAt,omitempty"`
	Error      string          `json:"error,omitempty"`
	cp         *projection.Checkpoint
	liveKnown  bool
	live       int
}

type partitionStatus struct {
	Partition  int        `json:"partition"`
	Checkpoint string     `json:"checkpoint"`
	LastSaved  *time.Time `json:"lastCheckpointAt,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// progressStatus is a catch-up's or rebuild's progress: Done and Total in
// positions, Rate in positions per second, ETA to reach Total at that rate.
type progressStatus struct {
	Done       uint64  `json:"done"`
	Total      uint64  `json:"total"`
	Rate       float64 `json:"rate"`
	ETASeconds float64 `json:"etaSeconds"`
}

// projectionStatus builds the status rows of the projections in store and
// in the extra checkpoint sources (only name's when name is set), sorted by
// projection and version.
func projectionStatus(ctx context.Context, store eventstore.Store, name string, warn io.Writer, extra ...checkpointSource) ([]statusRow, error) {
	fail := func(err error) ([]statusRow, error) { return nil, fmt.Errorf("projection status: %w", err) }
	found, err := findProjections(ctx, store, name, warn)
	if err != nil {
		return fail(err)
	}
	infos, err := storeVersions(ctx, store, found)
	if err != nil {
		return fail(err)
	}
	for _, src := range extra {
		more, err := src.versions(ctx, name)
		if err != nil {
			return fail(err)
		}
		infos = append(infos, more...)
	}
	if len(found) == 0 && len(infos) == 0 {
		return nil, nil
	}
	allHead, err := headEvent(ctx, store, nil)
	if err != nil {
		return fail(err)
	}
	appHead, err := headEvent(ctx, store, eventstore.ExcludeFrameworkFilter())
	if err != nil {
		return fail(err)
	}
	var rows []*statusRow
	for _, vi := range infos {
		r, err := versionRow(ctx, store, &vi, appHead)
		if err != nil {
			return fail(err)
		}
		rows = append(rows, r)
	}
	// Parked events, counted per version; a version known only from them
	// gets a row of its own.
	for _, n := range slices.Sorted(maps.Keys(found)) {
		if !found[n].parked {
			continue
		}
		parked, err := projection.ListParked(ctx, store, n)
		if err != nil {
			return fail(err)
		}
		for _, p := range parked {
			i := slices.IndexFunc(rows, func(r *statusRow) bool { return r.Projection == n && r.Version == p.Version })
			if i < 0 {
				rows = append(rows, &statusRow{Projection: n, Version: p.Version, Source: "-", Checkpoint: projection.Checkpoint{}.String()})
				i = len(rows) - 1
			}
			rows[i].Parked++
		}
	}
	slices.SortStableFunc(rows, func(a, b *statusRow) int {
		return cmp.Or(strings.Compare(a.Projection, b.Projection), cmp.Compare(a.Version, b.Version))
	})
	out := make([]statusRow, len(rows))
	for i, r := range rows {
		r.Head, r.AllHead = appHead.Position.String(), allHead.Position.String()
		r.State = stateOf(r, rows)
		out[i] = *r
	}
	return out, nil
}

// versionRow builds the row of one version, without its state.
func versionRow(ctx context.Context, store eventstore.Store, vi *versionInfo, appHead eventstore.RecordedEvent) (*statusRow, error) {
	r := &statusRow{Projection: vi.projection, Version: vi.version, Source: vi.source, Checkpoint: projection.Checkpoint{}.String(),
		liveKnown: vi.liveKnown, live: vi.live}
	for _, sc := range vi.partitions {
		var saved *time.Time
		if !sc.saved.IsZero() {
			t := sc.saved.UTC()
			saved = &t
		}
		if sc.partition > 0 {
			ps := partitionStatus{Partition: sc.partition, Checkpoint: sc.checkpoint.String(), LastSaved: saved}
			if sc.err != nil {
				ps.Checkpoint, ps.Error = "", sc.err.Error()
			}
			r.Partitions = append(r.Partitions, ps)
			continue
		}
		if sc.err != nil {
			r.Error = sc.err.Error()
			continue
		}
		cp := sc.checkpoint
		r.cp, r.Checkpoint, r.LastSaved = &cp, cp.String(), saved
		if cp.Kind != projection.AllCheckpoint {
			continue
		}
		lag, behind := uint64(0), time.Duration(0)
		if head := appHead.Position.Commit; head > cp.Position.Commit {
			lag = head - cp.Position.Commit
			at, err := eventAt(ctx, store, cp.Position)
			if err != nil {
				return nil, err
			}
			if !at.IsZero() && appHead.Created.After(at) {
				behind = appHead.Created.Sub(at)
			}
		}
		r.Lag, r.LagSeconds = &lag, behind.Seconds()
		r.Progress = progressOf(sc.since, checkpointMark{cp: cp, at: sc.saved}, cp.Position.Commit, appHead.Position.Commit)
	}
	return r, nil
}

// progressOf returns the progress toward total of a checkpoint at done, with
// the rate between two checkpoint records; nil when done is unknown.
func progressOf(first, last checkpointMark, done, total uint64) *progressStatus {
	p := &progressStatus{Done: done, Total: max(total, done)}
	if first.cp.Kind == projection.AllCheckpoint && last.cp.Kind == projection.AllCheckpoint {
		dt := last.at.Sub(first.at).Seconds()
		if dp := last.cp.Position.Commit; dt > 0 && dp > first.cp.Position.Commit {
			p.Rate = float64(dp-first.cp.Position.Commit) / dt
		}
	}
	if p.Rate > 0 && p.Total > done {
		p.ETASeconds = float64(p.Total-done) / p.Rate
	}
	return p
}

// stateOf names a version's state (see status's help) among the rows of all
// projections.
func stateOf(r *statusRow, rows []*statusRow) string {
	if r.Error != "" {
		return "error"
	}
	var newest *statusRow
	for _, o := range rows {
		if o.Projection == r.Projection && o.Source == r.Source && (newest == nil || o.Version > newest.Version) {
			newest = o
		}
	}
	switch {
	case r.liveKnown && r.live != 0 && r.Version > r.live:
		return "rebuilding"
	case r.liveKnown && r.live != 0 && r.Version < r.live:
		return "retired"
	case !r.liveKnown && r != newest:
		if newest.cp != nil && r.cp != nil && newest.cp.Kind == r.cp.Kind && newest.cp.Compare(*r.cp) >= 0 {
			return fmt.Sprintf("superseded by v%d", newest.Version)
		}
		return fmt.Sprintf("ahead of v%d", newest.Version)
	case !r.liveKnown:
		for _, o := range rows {
			if o.Projection == r.Projection && o.Source == r.Source && o != r && o.cp != nil &&
				(r.cp == nil || (o.cp.Kind == r.cp.Kind && o.cp.Compare(*r.cp) > 0)) {
				return "rebuilding"
			}
		}
	}
	switch {
	case r.Lag == nil && r.cp == nil:
		return "no checkpoint"
	case r.Lag == nil:
		return "-"
	case *r.Lag == 0:
		return "caught up"
	}
	return "behind"
}

func countErrors(rows []statusRow) int {
	n := 0
	for _, r := range rows {
		if r.Error != "" {
			n++
		}
		for _, p := range r.Partitions {
			if p.Error != "" {
				n++
			}
		}
	}
	return n
}

// printStatus prints the rows as a table or JSON Lines; now is for the age
// of the last checkpoint.
func printStatus(w io.Writer, rows []statusRow, asJSON bool, now time.Time) error {
	if asJSON {
		return jsonLines(w, rows)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no projections in the store (no checkpoint or parked streams)")
		return err
	}
	const format = "%-20s %-7s %-18s %-22s %-22s %-18s %-6s %-6s %-10s %-9s %s\n"
	fmt.Fprintf(w, format, "PROJECTION", "VERSION", "STATE", "CHECKPOINT", "HEAD", "LAG", "PARKED", "PARTS", "RATE/S", "ETA", "LAST CHECKPOINT")
	for _, r := range rows {
		lag, rate, eta, last := "-", "-", "-", "-"
		if r.Lag != nil {
			lag = strconv.FormatUint(*r.Lag, 10)
			if r.LagSeconds > 0 {
				lag += " (" + time.Duration(r.LagSeconds*float64(time.Second)).Round(time.Millisecond).String() + ")"
			}
		}
		if p := r.Progress; p != nil && p.Rate > 0 {
			rate = strconv.FormatFloat(p.Rate, 'f', 0, 64)
			eta = (time.Duration(p.ETASeconds * float64(time.Second))).Round(time.Second).String()
		}
		if r.LastSaved != nil {
			last = r.LastSaved.Format(time.RFC3339) + " (" + now.Sub(*r.LastSaved).Round(time.Second).String() + " ago)"
		}
		fmt.Fprintf(w, format, r.Projection, "v"+strconv.Itoa(r.Version), r.State, r.Checkpoint, r.Head, lag,
			strconv.Itoa(r.Parked), strconv.Itoa(len(r.Partitions)), rate, eta, last)
		if r.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", r.Error)
		}
		for _, p := range r.Partitions {
			if p.Error != "" {
				fmt.Fprintf(w, "  partition %d: error: %s\n", p.Partition, p.Error)
			}
		}
	}
	return nil
}

// printParked prints parked events as a table or JSON Lines.
func printParked(w io.Writer, name string, parked []projection.ParkedEvent, asJSON bool) error {
	if asJSON {
		return jsonLines(w, parked)
	}
	if len(parked) == 0 {
		_, err := fmt.Fprintf(w, "projection %s has no unresolved parked events\n", name)
		return err
	}
	const format = "%-24s %-7s %-28s %-20s %-24s %-11s %-8s %-40s %s\n"
	fmt.Fprintf(w, format, "PARKED AT", "VERSION", "EVENT", "POSITION", "TYPE", "REASON", "ATTEMPTS", "ERROR", "REPLAY ERROR")
	for _, p := range parked {
		fmt.Fprintf(w, format, p.ParkedAt.UTC().Format("2006-01-02T15:04:05.000Z"), "v"+strconv.Itoa(p.Version),
			p.Stream+"@"+strconv.FormatUint(p.Revision, 10), p.Position, p.EventType, p.Reason, strconv.Itoa(p.Attempts),
			cell(p.Error), cell(p.ReplayError))
	}
	return nil
}

// cell keeps an error message on one table line; "-" when there is none.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return oneLine(s)
}

// jsonLines writes each value as one JSON object and a newline.
func jsonLines[T any](w io.Writer, values []T) error {
	enc := json.NewEncoder(w)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}
