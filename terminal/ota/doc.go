// Package ota is the terminal's side of over-the-air provisioning: it
// learns, with The Update Framework (go-tuf v2), which parameter bundles
// and firmware images the acquirer's TMS offers the terminal's group,
// downloads them bounded in size and time, resumably, and hands them over
// only after go-tuf verified them against the signed metadata.
//
// # Trust
//
// The terminal ships with a pinned root.json (Opts.Root). Check runs go-tuf's
// full client workflow: the chain of root versions (each signed by a
// threshold of the previous root's keys and of its own), then timestamp,
// snapshot and targets, each checked against the root's keys and
// thresholds, against expiry (by Opts.Clock), against the versions already
// trusted (rollback) and against the version, length and hashes its
// signed parent names (mix-and-match). Fetch downloads a target only as
// long as the targets metadata says, and go-tuf checks its length and
// hashes before Fetch returns a byte of it. Refusals are typed (see
// errors.go): a *RefusedError names the file and the reason.
//
// Expiry is judged by Opts.Clock, but never at a time before the expiry of
// a trusted timestamp the clock was once seen past, nor before the time
// the last Check saw plus the monotonic time passed since (Opts.Elapsed;
// after a restart, the time since the start): both are kept in Dir
// across restarts, so a clock set back, by a forged time source or a
// board without a real-time clock, does not make a frozen timestamp
// valid again, nor keep it valid longer than the time left to it when
// posd last looked. Both only reach a signed expiry, so a clock that ran
// ahead for a while costs no more than the wait for the repository's
// next timestamp. The time posd was down is not counted: TUF metadata
// carry no signed time but expiries (see judgeAt).
//
// # Files in Opts.Dir
//
//	metadata/{root,timestamp,snapshot,targets}.json   go-tuf's trusted metadata
//	targets/<escaped target name>                     verified copies of fetched targets
//	partial/<sha256>-<length>                          downloads in progress
//	expiry-floor                                       the expiry floor (RFC 3339)
//	last-check                                         the time the last check saw (JSON)
//	roots/N.root.json                                  the roots learned after the pinned one, kept durably
//	poll-state                                         Poll's last run and failures in a row (JSON)
//
// One Client at a time works on a Dir: New removes the temporary files
// that a process killed while writing one left behind.
//
// The trusted metadata is go-tuf's own file store (its updater's
// LocalMetadataDir): go-tuf reads it back at every Check (that is how
// rollback and freeze protection survive a reboot) and writes each file
// atomically (a temporary file renamed over the old one) only after it
// verified it. It is not in the bbolt database on purpose: the updater owns
// the load-verify-persist sequence of the TUF workflow, and moving the
// files into bbolt would mean forking that logic or disabling the cache
// (and with it rollback protection across restarts); the set needs no
// cross-file transaction, because every Check verifies each file against
// the others and a set torn by a crash is simply refreshed from the
// network; and the metadata, like the downloads beside it (firmware images
// of tens of megabytes), is not transaction data, which bbolt's single
// memory-mapped file, which never shrinks, is kept for. A kept file that
// no longer parses is removed (it protects nothing) and the Check retried.
//
// go-tuf renames its files into place without syncing them (and rewrites
// root.json at every Check), so a power cut can leave any of them empty
// or cut short. The client syncs them after every Check, and keeps every
// root it learned in a chain of its own (roots/), each written durably
// once it verified against the one before. A Check starts from the newest
// root of that chain that verifies from the pinned root on, never from
// go-tuf's root.json: a damaged root.json costs neither the root the
// terminal had learned (a fall back to the pinned root would trust the
// repository to serve the whole chain again, and accept an older root if
// it stopped early) nor a refusal, and a root.json planted by someone who
// could write the directory is not trusted. A damaged timestamp, snapshot
// or targets file is removed and fetched again: its rollback protection
// is lost for that one Check (the other files still guard their roles).
//
// # Downloads
//
// Fetch returns the verified bytes, not a path: go-tuf verifies a target
// in memory anyway, and handing over exactly the bytes it verified leaves
// no window in which a file could change between verification and use.
// The caller (the parameter loader, the A/B installer) writes them where
// they belong. A download in progress is kept in partial/, named by the
// target's sha256 and length; after an interruption (connection cut,
// FetchTimeout, power loss) the next Fetch of the same target continues it
// with an HTTP Range request. A resumed download that fails verification
// is started over whole in the same Fetch (what was kept may be at fault:
// a power cut can leave a file's tail unwritten), and refused only if the
// whole download fails too; a partial file that fails verification is
// deleted. FetchTimeout bounds one Check or
// one Fetch as a whole (wall-clock, like every network timeout in posd);
// a large image on a slow link completes over several resumed Fetches.
// Within it, every request must bring Opts.MinRate over each
// Opts.MinRateWindow (by default 1 KiB/s over 30 s, or the rest of the
// file when less): a TMS or a middlebox that trickles bytes is given up
// after one window (ErrTooSlow, transient), what it brought kept for the
// resume, instead of holding the download to FetchTimeout.
// Downloads are bounded by MaxMetadata for every metadata file and, for a
// target, by its signed length (and never more than MaxTarget): a server
// sending more is cut off and refused (ErrTooLarge).
//
// Once verified, the partial file is renamed to the kept copy (never
// copied: a target needs its size on disk once). The data directory is
// shared with the terminal's database, so a download starts only when the
// rest of the target fits with MinFree left over (a target no larger than
// a parameter bundle only needs its own room), and a download that
// fills the disk anyway (something else wrote meanwhile) is removed to
// give the room back; both are ErrNoSpace.
//
// # Versions and polling
//
// The client never decides what to install: Newer picks, among the targets
// of one kind, the newest whose version is above the one the caller runs
// (versions only go up). Poll runs a check at jittered times so that a
// fleet never polls in step, backs off while the TMS fails, and keeps
// its schedule across restarts: see Poll.
//
// # Parameter bundles
//
// ParseBundle reads a parameter bundle, a JSON document with a strict
// schema, keeping each section as raw JSON for the daemon to apply.
package ota
