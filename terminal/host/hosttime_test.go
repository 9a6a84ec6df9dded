package host

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/conn/clock"
)

// TestAnswerTimeObserved: the acquirer's time in its answers (ascii87:
// DE7 in UTC; cup: DE12/DE13, local time) reaches the client's
// OnHostTime, the year taken nearest the terminal's clock, also across
// a new year and from a terminal clock a day ahead.
func TestAnswerTimeObserved(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			for _, c := range []struct {
				name       string
				host, term time.Time
			}{
				{"same time", time.Date(2026, 11, 29, 8, 30, 15, 0, time.UTC), time.Date(2026, 11, 29, 8, 30, 15, 0, time.UTC)},
				{"terminal a day ahead", time.Date(2026, 11, 29, 8, 30, 15, 0, time.UTC), time.Date(2026, 11, 30, 8, 30, 15, 0, time.UTC)},
				{"host past new year", time.Date(2027, 1, 1, 0, 0, 5, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC)},
				{"terminal past new year", time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 5, 0, time.UTC)},
				{"terminal a month behind", time.Date(2026, 11, 29, 8, 30, 15, 0, time.UTC), time.Date(2026, 10, 29, 8, 30, 15, 0, time.UTC)},
			} {
				t.Run(c.name, func(t *testing.T) {
					addr := fakeHost(t, d, func(m *iso8583.Message) []byte {
						req, err := d.DecodeRequest(m)
						if err != nil {
							return nil
						}
						r, _ := d.EncodeResponse(req, Response{ResponseCode: "00", Time: c.host})
						out, _ := r.Pack()
						return out
					})
					cl, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", MerchantID: "M00000000000001",
						ResponseTimeout: 2 * time.Second, Clock: clock.NewFake(c.term)})
					if err != nil {
						t.Fatal(err)
					}
					defer cl.Close()
					var mu sync.Mutex
					var seen []time.Time
					cl.OnHostTime(func(h time.Time) { mu.Lock(); seen = append(seen, h); mu.Unlock() })
					if err := cl.Echo(context.Background(), 7); err != nil {
						t.Fatal(err)
					}
					mu.Lock()
					defer mu.Unlock()
					if len(seen) != 1 || !seen[0].Equal(c.host) {
						t.Fatalf("host time seen %v, want %v", seen, c.host)
					}
				})
			}
		})
	}
}

func TestAnswerClock(t *testing.T) {
	ref := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"1129083015", time.Date(2026, 11, 29, 8, 30, 15, 0, time.UTC)},
		{"0229120000", time.Time{}}, // no 29 February within a year of 2026
		{"1329083015", time.Time{}},
		{"1100083015", time.Time{}},
		{"1129243015", time.Time{}},
		{"1129086015", time.Time{}},
		{"1129083060", time.Time{}},
		{"112908301", time.Time{}},
		{"11290830１5", time.Time{}},
		{"", time.Time{}},
	} {
		if got := answerClock(c.in, time.UTC, ref); !got.Equal(c.want) {
			t.Errorf("%q: %v, want %v", c.in, got, c.want)
		}
	}
	if got := answerClock("0229120000", time.UTC, time.Date(2028, 1, 10, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("29 February in a leap year: %v", got)
	}
}
