package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"posd/terminal/host"
)

// ErrSyncUnfinished: a forwarding pass asked for by hand did not finish.
var ErrSyncUnfinished = errors.New("daemon: the forwarding pass did not finish")

// SyncResult is what a forwarding pass asked for by hand (posctl sync,
// the console's sync) left: the offline approvals still waiting for
// their advice and, when some do, why, as the host link shows it.
type SyncResult struct {
	OfflineStatus
	// NotSent says why advices still wait ("" when none does).
	NotSent string `json:"not_sent,omitempty"`
	// HostLink is the link as the pass left it, when advices still wait.
	HostLink *host.LinkState `json:"host_link,omitempty"`
}

// Sync forwards the stored advices now and says what still waits.
func (d *Daemon) Sync(ctx context.Context) (SyncResult, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	began := time.Now()
	if d.Engine.Sync(ctx) < 0 {
		return SyncResult{}, fmt.Errorf("%w (shutting down, or the records could not be read)", ErrSyncUnfinished)
	}
	return syncResult(d.Offline(), d.Host.LinkState(), began), nil
}

// syncResult words o, read after a pass that began at began, with the
// host link as the pass left it.
func syncResult(o OfflineStatus, link host.LinkState, began time.Time) SyncResult {
	r := SyncResult{OfflineStatus: o}
	if o.Count == 0 || o.Error != "" {
		return r
	}
	r.HostLink = &link
	advices := "advices"
	if o.Count == 1 {
		advices = "advice"
	}
	switch {
	case link.Failures > 0 && !link.LastFailure.Before(began):
		r.NotSent = fmt.Sprintf("%d %s not sent: the host %s (%d failed exchanges in a row); they are sent again on their own once it answers",
			o.Count, advices, linkFailure(link.Failure), link.Failures)
	default:
		r.NotSent = fmt.Sprintf("%d %s still waiting though the host answers: they are paced or were answered busy and are sent again on their own; posctl txn list --state offline_approved lists them",
			o.Count, advices)
	}
	return r
}

// linkFailure words a host link failure class for a sentence.
func linkFailure(class string) string {
	switch class {
	case "unreachable":
		return "is unreachable"
	case "no response":
		return "did not answer"
	case "bad MAC":
		return "answered with a bad MAC"
	case "bad response":
		return "answered with a message the terminal cannot use"
	case "closed":
		return "closed the connection"
	}
	return "could not be reached (" + class + ")"
}
