package daemon

import (
	"context"
	"log/slog"
	"time"

	"posd/conn/clock"
	"posd/terminal/store"
)

// purgeBatch bounds one purge commit, so a first purge of a large backlog
// does not hold the database in one long write.
const purgeBatch = 1000

// purgeOld deletes the final records created before now - retention, in
// batches, and returns how many went. Records an outbox job still needs
// stay (store.Purge). The pages they held are reused by bbolt, so a
// terminal that purges keeps its file at the size of what it keeps.
func purgeOld(ctx context.Context, db *store.DB, now time.Time, retention time.Duration) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n, err := db.Purge(now.Add(-retention), purgeBatch)
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
	return total, ctx.Err()
}

// purgeLoop purges at start and then every hour until ctx ends; after a
// purge that deleted records, purged (when set) is called.
func purgeLoop(ctx context.Context, db *store.DB, clk clock.Clock, retention time.Duration, log *slog.Logger, purged func() error) {
	for {
		n, err := purgeOld(ctx, db, clk.Now(), retention)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("purging old records", "err", err)
		case n > 0:
			log.Info("old records purged", "count", n, "retention", retention)
		}
		if n > 0 && purged != nil {
			if err := purged(); err != nil {
				log.Error("after the purge", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.After(time.Hour):
		}
	}
}
