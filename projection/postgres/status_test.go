package postgres_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/chronicle-go/chronicle/projection"
)

func TestStatuses(t *testing.T) {
	e := newEnv(t)
	tg := e.target(t)
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// "orders": v1 live, v2 building in 2 partitions; "audit": written by
	// Update alone, never prepared or promoted.
	v1 := projection.Key{Projection: "orders", Version: 1}
	v2 := projection.Key{Projection: "orders", Version: 2}
	must(tg.Prepare(ctx, v1, nil, nil))
	must(tg.Promote(ctx, "orders", 1))
	must(tg.Save(ctx, v1, projection.Checkpoint{}, at(5)))
	must(tg.Prepare(ctx, v2, nil, nil))
	must(tg.SetPartitions(ctx, "orders", 2, 2))
	must(tg.Save(ctx, v2, projection.Checkpoint{}, at(2)))
	must(tg.Save(ctx, projection.Key{Projection: "orders", Version: 2, Partition: 2}, projection.Checkpoint{}, at(3)))
	must(tg.Save(ctx, projection.Key{Projection: "audit", Version: 1}, projection.Checkpoint{}, projection.AtRevision(4)))

	got, err := tg.Statuses(ctx)
	must(err)
	p := e.prefix
	want := []projection.TargetStatus{
		{Projection: "audit", Place: p + "audit", Versions: []projection.VersionStatus{
			{Version: 1, Place: "", Started: projection.AtRevision(4), // never prepared: no schema
				Checkpoints: []projection.PartitionCheckpoint{{Partition: 0, Checkpoint: projection.AtRevision(4)}}},
		}},
		{Projection: "orders", Place: p + "orders", Live: 1, Versions: []projection.VersionStatus{
			{Version: 1, Place: p + "orders", Started: at(5),
				Checkpoints: []projection.PartitionCheckpoint{{Partition: 0, Checkpoint: at(5)}}},
			{Version: 2, Place: p + "orders_v2", Partitions: 2, Started: at(2),
				Checkpoints: []projection.PartitionCheckpoint{{Partition: 0, Checkpoint: at(2)}, {Partition: 2, Checkpoint: at(3)}}},
		}},
	}
	opts := cmp.Options{cmpopts.IgnoreTypes(time.Time{})}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("Statuses (-want +got):\n%s", diff)
	}
	// Times: set where they happened, zero where they did not.
	o := got[1]
	if o.Promoted.IsZero() || o.Versions[0].Prepared.IsZero() || o.Versions[0].Created.IsZero() ||
		o.Versions[1].Checkpoints[1].Updated.IsZero() || !o.Versions[1].Retired.IsZero() || !got[0].Versions[0].Prepared.IsZero() {
		t.Errorf("times of orders = %+v", o)
	}

	must(tg.Promote(ctx, "orders", 2))
	got, err = tg.Statuses(ctx)
	must(err)
	o = got[1]
	if o.Live != 2 || o.Versions[0].Place != p+"orders_v1_retired" || o.Versions[0].Retired.IsZero() ||
		len(o.Versions[0].Checkpoints) != 0 || o.Versions[1].Place != p+"orders" {
		t.Errorf("after Promote(2), orders = %+v", o)
	}
	must(tg.Promote(ctx, "orders", 3))
	got, err = tg.Statuses(ctx)
	must(err)
	var schemas []string
	for _, v := range got[1].Versions {
		schemas = append(schemas, v.Place)
	}
	if want := []string{"", p + "orders_v2_retired", p + "orders"}; !slices.Equal(schemas, want) {
		t.Errorf("after Promote(3), schemas of versions = %q; want %q", schemas, want)
	}
}
