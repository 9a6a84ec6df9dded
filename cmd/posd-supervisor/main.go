// Command posd-supervisor runs posd from the A/B firmware slots of the
// simulated board and rolls a bad update back by itself.
//
//	posd-supervisor -root DIR [flags] [-- posd arguments...]
//
// The slots are directories: DIR/slots/a/posd and DIR/slots/b/posd, the
// state (terminal/slots, bbolt) is DIR/slots/state.db. A firmware image is
// the posd executable itself; its SHA-256 is checked while it is installed
// and again before each start.
//
// At each start the supervisor asks the state which slot to run
// (slots.Manager.Booted), starts that slot's posd with the arguments after
// "--" and these variables in its environment: POSD_SLOTS_DIR (the slots
// directory), POSD_SLOT, POSD_SLOT_VERSION, POSD_SLOT_TRIAL ("1" on a trial
// boot) and POSD_SLOT_BOOT ("attempt/max"). posd commits a trial with
// slots.OpenDir(POSD_SLOTS_DIR).Commit(ctx, POSD_SLOT) once its health
// check passed, or rolls it back with Rollback.
//
// When posd exits:
//   - with the restart code (75): posd is started again (a trial start
//     counts as another trial boot);
//   - a trial posd that exits without having committed, or has not
//     committed within -health (then it gets SIGTERM, and SIGKILL after
//     -grace), is a failed trial boot: the next start is the next trial
//     boot, and after -trial-boots failed boots the committed slot runs
//     again (rollback);
//   - otherwise the supervisor exits with posd's status (128+n when a
//     signal n ended it), and systemd decides.
//
// SIGTERM and SIGINT are forwarded to posd; the supervisor exits after it,
// with its status.
//
// Flags:
//
//	-root DIR            data root holding slots/ (required)
//	-seed FILE           provision slot a with FILE when no slot is committed yet
//	-seed-version V      version recorded for the seed (default "seed")
//	-trial-boots N       trial boots before a rollback (default 3)
//	-health D            time a trial posd has to commit (default 2m)
//	-grace D             SIGTERM to SIGKILL at the health deadline (default 10s)
//	-restart-delay D     pause before starting posd again (default 1s)
//	-restart-code N      exit status that asks for a restart (default 75)
//	-status              print the slot status as JSON and exit
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"posd/conn/clock"
	"posd/terminal/slots"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("posd-supervisor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "data root holding slots/ (required)")
	seed := fs.String("seed", "", "provision slot a with this posd when no slot is committed yet")
	seedVersion := fs.String("seed-version", "seed", "version recorded for -seed")
	trialBoots := fs.Int("trial-boots", 3, "trial boots before a rollback")
	health := fs.Duration("health", 2*time.Minute, "time a trial posd has to commit")
	grace := fs.Duration("grace", 10*time.Second, "SIGTERM to SIGKILL at the health deadline")
	restartDelay := fs.Duration("restart-delay", time.Second, "pause before starting posd again")
	restartCode := fs.Int("restart-code", 75, "exit status by which posd asks to be started again")
	printStatus := fs.Bool("status", false, "print the slot status as JSON and exit")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if *root == "" {
		fmt.Fprintln(stderr, "posd-supervisor: -root is required (posd-supervisor -h for help)")
		return 2
	}
	if *trialBoots < 1 || *trialBoots > 100 || *health <= 0 || *grace < 0 || *restartDelay < 0 {
		fmt.Fprintln(stderr, "posd-supervisor: -trial-boots must be 1..100, -health positive, -grace and -restart-delay not negative")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	dir := filepath.Join(*root, "slots")
	ctx := context.Background()
	m, err := slots.OpenDir(dir, slots.Options{MaxTrialBoots: *trialBoots, Logger: log})
	if err != nil {
		log.Error("slot state", "err", err)
		return 1
	}
	if *printStatus {
		st, err := m.Status(ctx)
		if err != nil {
			log.Error("slot status", "err", err)
			return 1
		}
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	if *seed != "" {
		if err := seedSlots(ctx, m, *seed, *seedVersion, log); err != nil {
			log.Error("seeding slot a", "file", *seed, "err", err)
			return 1
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	s := &supervisor{
		mgr: m, dir: dir, args: fs.Args(), environ: os.Environ(),
		health: *health, grace: *grace, restartDelay: *restartDelay, restartCode: *restartCode,
		clock: clock.Real, signals: sigs, start: startExec, log: log,
	}
	return s.run(ctx)
}

// seedSlots provisions slot a with the file when nothing is committed.
func seedSlots(ctx context.Context, m *slots.Manager, path, version string, log *slog.Logger) error {
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	if st.Committed != "" {
		log.Debug("slots already provisioned; -seed ignored", "committed", st.Committed, "version", st.CommittedVersion)
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	img := slots.Image{Version: version, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	if err := m.Provision(ctx, img, f); err != nil {
		return err
	}
	log.Info("slot a provisioned", "file", path, "version", version, "sha256", img.SHA256)
	return nil
}
