package risk

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// approval is the model's record of one approval.
type approval struct {
	card   int
	at     time.Time
	amount int64
}

// model is the sliding window written the obvious way: every approval
// kept, the window recomputed from all of them.
type model struct {
	window time.Duration
	all    []approval
}

func (m *model) in(card int, now time.Time) (n int, sum int64) {
	for _, a := range m.all {
		if a.card == card && now.Sub(a.at) < m.window {
			n++
			sum += a.amount
		}
	}
	return n, sum
}

func (m *model) live(now time.Time) (n int) {
	for _, a := range m.all {
		if now.Sub(a.at) < m.window {
			n++
		}
	}
	return n
}

// TestWindowProperties runs random sequences of approvals, declines, clock
// steps and prunes against the model, for several windows and seeds, and
// checks after every step that:
//   - the engine counts and sums exactly the approvals the model has in
//     the window, for every card;
//   - Check refuses exactly when the model says a limit would be passed,
//     with the right code (count before amount);
//   - Prune never changes a count, and leaves exactly the approvals still
//     in the window;
//   - moving the clock forward never raises a count.
func TestWindowProperties(t *testing.T) {
	pansOf := []string{panA, panB, panC, "6212260200000000001"}
	windows := []time.Duration{time.Minute, time.Hour, 24 * time.Hour}
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		window := windows[seed%uint64(len(windows))]
		maxCount := 1 + rng.IntN(6)
		maxAmount := int64(500 + rng.IntN(3000))
		f := newFixture(t, onlyVelocity(window, maxCount, maxAmount))
		m := &model{window: window}
		for step := range 150 {
			now := f.clk.Now()
			card := rng.IntN(len(pansOf))
			switch op := rng.IntN(10); {
			case op < 4: // an approval, or a decline
				amount := int64(1 + rng.IntN(800))
				approved := rng.IntN(5) > 0
				f.record(sale(amount, EntryTap, pansOf[card]), approved)
				if approved {
					m.all = append(m.all, approval{card, now, amount})
				}
			case op < 8: // time passes: a little, a lot, or exactly to a boundary
				var d time.Duration
				switch rng.IntN(4) {
				case 0:
					d = time.Duration(rng.Int64N(int64(window / 10)))
				case 1:
					d = time.Duration(rng.Int64N(int64(window)))
				case 2:
					if len(m.all) > 0 {
						a := m.all[rng.IntN(len(m.all))]
						if d = a.at.Add(window).Sub(now) + time.Duration(rng.IntN(3)-1); d < 0 {
							d = 0
						}
					}
				case 3:
					d = time.Nanosecond
				}
				before := make([]int, len(pansOf))
				for c := range pansOf {
					before[c], _ = f.velocity(pansOf[c])
				}
				f.clk.Advance(d)
				for c := range pansOf {
					if n, _ := f.velocity(pansOf[c]); n > before[c] {
						t.Fatalf("seed %d step %d: count of card %d rose from %d to %d as time passed", seed, step, c, before[c], n)
					}
				}
			case op < 9:
				if _, err := f.e.Prune(context.Background()); err != nil {
					t.Fatal(err)
				}
				if e, i := f.stored(); e != m.live(now) || i != e {
					t.Fatalf("seed %d step %d: after Prune %d entries (%d in the index), %d in the window", seed, step, e, i, m.live(now))
				}
			default: // nothing: a check on an unchanged state
			}
			now = f.clk.Now()
			for c, pan := range pansOf {
				wn, wsum := m.in(c, now)
				if n, sum := f.velocity(pan); n != wn || sum != wsum {
					t.Fatalf("seed %d step %d card %d: engine %d/%d, model %d/%d", seed, step, c, n, sum, wn, wsum)
				}
				amount := int64(1 + rng.IntN(800))
				d := f.check(sale(amount, EntryTap, pan))
				switch {
				case wn+1 > maxCount:
					wantRefuse(t, "model: count", d, RuleVelocityCount)
				case wsum+amount > maxAmount:
					wantRefuse(t, "model: amount", d, RuleVelocityAmount)
				default:
					wantAllow(t, "model: within limits", d, CVMNone)
				}
				if t.Failed() {
					t.Fatalf("seed %d step %d card %d: model %d/%d, amount %d, limits %d/%d", seed, step, c, wn, wsum, amount, maxCount, maxAmount)
				}
			}
		}
	}
}
