package bouncewatch

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkDedup: every remembered key is in the ring exactly once, and the
// ring holds nothing else.
func checkDedup(t *testing.T, d *dedup, when string) {
	t.Helper()
	inRing := map[uint64]int{}
	for _, k := range d.ring {
		inRing[k]++
	}
	for k, n := range inRing {
		if n != 1 {
			t.Fatalf("%s: key %x in the ring %d times (ring %x)", when, k, n, d.ring)
		}
		if _, ok := d.set[k]; !ok {
			t.Fatalf("%s: key %x in the ring but not remembered", when, k)
		}
	}
	if len(d.set) != len(inRing) {
		t.Fatalf("%s: %d keys remembered, %d in the ring", when, len(d.set), len(inRing))
	}
}

// TestDedupRollbackRetry: a batch that wrapped the ring and was rolled
// back leaves the ring as it was; its retry then counts once and stays
// remembered (before, its keys sat in the ring twice and evicting the older
// copy forgot the live key, so a third delivery counted again).
func TestDedupRollbackRetry(t *testing.T) {
	d := newDedup(3)
	for _, k := range []string{"a", "b", "c"} {
		if !d.first(k) {
			t.Fatalf("%s not new", k)
		}
	}
	d.commit()
	// Batch B evicts a and b, then fails to publish.
	if !d.first("d") || !d.first("e") {
		t.Fatal("d, e not new")
	}
	d.rollback()
	checkDedup(t, d, "after rollback")
	for _, k := range []string{"a", "b", "c"} {
		if d.first(k) {
			t.Fatalf("after rollback: %s forgotten (ring %x)", k, d.ring)
		}
	}
	d.commit()
	// The retry of batch B counts d and e; a later batch adds f.
	if !d.first("d") || !d.first("e") {
		t.Fatal("retry: d, e taken for duplicates")
	}
	d.commit()
	if !d.first("f") {
		t.Fatal("f not new")
	}
	d.commit()
	checkDedup(t, d, "after the retry")
	for _, k := range []string{"d", "e", "f"} {
		if d.first(k) {
			t.Fatalf("third delivery: %s counted again (ring %x)", k, d.ring)
		}
	}
}

// TestDedupRollbackRandom: random batches, some rolled back, against a
// model that remembers the last capacity committed keys.
func TestDedupRollbackRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	for round := range 200 {
		capacity := 1 + r.IntN(6)
		d := newDedup(capacity)
		var model []string // committed keys, oldest first, at most capacity
		for batch := range 20 {
			var added []string
			for range r.IntN(2 * capacity) {
				k := fmt.Sprint(r.IntN(3 * capacity))
				// A key among the last capacity keys (committed, then this
				// batch's) is a duplicate.
				window := append(append([]string{}, model...), added...)
				if len(window) > capacity {
					window = window[len(window)-capacity:]
				}
				want := true
				for _, m := range window {
					if m == k {
						want = false
					}
				}
				if got := d.first(k); got != want {
					t.Fatalf("round %d batch %d: first(%s) = %v, want %v (model %v, batch %v)", round, batch, k, got, want, model, added)
				}
				if want {
					added = append(added, k)
				}
			}
			if r.IntN(3) == 0 {
				d.rollback()
			} else {
				d.commit()
				model = append(model, added...)
				if len(model) > capacity {
					model = model[len(model)-capacity:]
				}
			}
			checkDedup(t, d, fmt.Sprintf("round %d batch %d", round, batch))
		}
	}
}
