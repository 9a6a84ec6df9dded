package daemon

import (
	"strings"
	"testing"
	"time"

	"posd/terminal/host"
)

// A forwarding pass by hand says why advices still wait: the host's
// failure seen during the pass, or, when the host answers, that they
// are paced or were answered busy; nothing when none waits.
func TestSyncResultSaysWhy(t *testing.T) {
	began := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	down := host.LinkState{LastFailure: began.Add(time.Second), Failure: "unreachable", Failures: 3}
	for _, c := range []struct {
		name string
		o    OfflineStatus
		link host.LinkState
		want []string // "" : no not_sent
	}{
		{"nothing waits", OfflineStatus{}, down, nil},
		{"host down during the pass", OfflineStatus{Count: 3, Amount: 3000}, down,
			[]string{"3 advices not sent", "host is unreachable", "3 failed exchanges"}},
		{"one advice, no answer", OfflineStatus{Count: 1, Amount: 100},
			host.LinkState{LastFailure: began, Failure: "no response", Failures: 1}, []string{"1 advice not sent", "did not answer"}},
		{"host answers", OfflineStatus{Count: 2, Amount: 200},
			host.LinkState{LastAnswer: began.Add(time.Second), LastFailure: began.Add(-time.Hour), Failure: "unreachable"},
			[]string{"2 advices still waiting though the host answers"}},
		{"failure before the pass", OfflineStatus{Count: 2, Amount: 200},
			host.LinkState{LastFailure: began.Add(-time.Minute), Failure: "unreachable", Failures: 1},
			[]string{"though the host answers"}},
	} {
		r := syncResult(c.o, c.link, began)
		if c.want == nil {
			if r.NotSent != "" || r.HostLink != nil {
				t.Errorf("%s: %+v", c.name, r)
			}
			continue
		}
		if r.HostLink == nil || r.Count != c.o.Count {
			t.Errorf("%s: %+v", c.name, r)
		}
		for _, w := range c.want {
			if !strings.Contains(r.NotSent, w) {
				t.Errorf("%s: not_sent %q does not say %q", c.name, r.NotSent, w)
			}
		}
	}
}

func TestCountOf(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 transactions"}, {1, "1 transaction"}, {2, "2 transactions"}} {
		if got := countOf(c.n, "transaction", "transactions"); got != c.want {
			t.Errorf("countOf(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
