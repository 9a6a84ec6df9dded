// Package sdnotify speaks systemd's notification protocol (Type=notify
// units): READY, STOPPING and the watchdog ping. Without NOTIFY_SOCKET it
// does nothing.
package sdnotify

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends a state string to systemd's notification socket when posd
// runs under systemd with Type=notify (NOTIFY_SOCKET set); otherwise it does
// nothing.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// WatchdogInterval is half of WATCHDOG_USEC, or 0 when systemd's watchdog
// is off.
func WatchdogInterval() time.Duration {
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond / 2
}

// Watchdog pings systemd while healthy() holds, until ctx ends.
func Watchdog(ctx context.Context, every time.Duration, healthy func() bool) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if healthy() {
				Notify("WATCHDOG=1")
			}
		}
	}
}
