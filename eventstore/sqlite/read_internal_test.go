package sqlite

import (
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestUnpackRejectsLengthsBeyondTheRow(t *testing.T) {
	row := append(make([]byte, 16), "TypeStreamDataMeta"...)
	r := recent{intern: func(b []byte) string { return string(b) }}
	for _, lens := range [][3]int64{{-1, 0, 0}, {0, -1, 0}, {0, 0, -1}, {4, 6, 9}, {19, 0, 0}} {
		var e eventstore.RecordedEvent
		if err := r.unpack(&e, row, lens[0], lens[1], lens[2]); !errors.Is(err, errCorrupt) {
			t.Errorf("lengths %v: %v, want errCorrupt", lens, err)
		}
	}
	var e eventstore.RecordedEvent
	if err := r.unpack(&e, row, 4, 6, 4); err != nil {
		t.Fatal(err)
	}
	if e.Type != "Type" || e.Stream != "Stream" || string(e.Data) != "Data" || string(e.Metadata) != "Meta" || cap(e.Data) != 4 {
		t.Fatalf("unpacked %+v", e)
	}
	var bare eventstore.RecordedEvent
	if err := r.unpack(&bare, row[:16+4], 4, 0, 0); err != nil || bare.Data != nil || bare.Metadata != nil || bare.Stream != "" {
		t.Fatalf("a row without data or metadata: %+v, %v", bare, err)
	}
}
