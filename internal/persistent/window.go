package persistent

// window tracks, in the order a group took them, the places of the
// messages it has not finished with: the group checkpoints up to the last
// place before the first unfinished one, so a restart resumes after every
// acknowledged message and redelivers only what may not have been.
type window struct {
	slots []*slot
}

type slot struct {
	p    place
	done bool
}

// add appends an unfinished place.
func (w *window) add(p place) *slot {
	s := &slot{p: p}
	w.slots = append(w.slots, s)
	return s
}

// len is how many places are held, finished or not.
func (w *window) len() int { return len(w.slots) }

// advance drops the finished places at the front and returns the last one
// dropped and how many; ok is false when none was.
func (w *window) advance() (last place, n int, ok bool) {
	for len(w.slots) > 0 && w.slots[0].done {
		last, ok = w.slots[0].p, true
		w.slots[0] = nil
		w.slots = w.slots[1:]
		n++
	}
	if len(w.slots) == 0 {
		w.slots = nil // let the backing array go
	}
	return last, n, ok
}
