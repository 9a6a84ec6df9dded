package daemon

import (
	"fmt"
	"log/slog"

	"posd/terminal/store"
)

// BehindStatus says that posd.db was older than the counters' mark at
// start, and which counters were moved (from, to).
type BehindStatus struct {
	Message  string              `json:"message"`
	Counters []store.CounterMove `json:"counters"`
}

// behindMessage is what the status and the start-up log tell the engineer
// who put an older posd.db in place.
const behindMessage = "posd.db was behind the counters' high-water mark (" + store.MarkFile + "): it is an older copy " +
	"(restored from a backup?). STANs, invoice numbers, record ids and the batch number were moved past the mark so " +
	"that none is used again; the transactions made after the copy are not in this database (settle them with the " +
	"acquirer from its records)"

// logMoved says at start which counters store.Open moved past their mark.
func logMoved(db *store.DB, reset bool, log *slog.Logger) {
	moved := db.Moved()
	if len(moved) == 0 {
		return
	}
	var what []string
	for _, m := range moved {
		what = append(what, fmt.Sprintf("%s %d->%d", m.Counter, m.From, m.To))
	}
	switch {
	case reset:
		log.Info("factory reset: the new database's counters continue past the counters' mark", "counters", what)
	case db.NewDatabase():
		log.Info("posd.db is a new database (its marker "+store.MarkerSuffix+" was removed with it): its counters "+
			"continue past the counters' mark so that no STAN, invoice number, record id or batch number repeats", "counters", what)
	case db.Behind():
		log.Warn(behindMessage, "counters", what)
	default:
		log.Info("posd did not stop cleanly: counters moved past what was reserved for them", "counters", what)
	}
}
