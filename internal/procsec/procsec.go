// Package procsec hardens the posd process itself: its memory holds the
// device KEK, the DUKPT registers, clear card data while a card is read
// and PIN digits while they are typed, none of which may end up in a core
// file or be read by another process.
//
// NoCoreDumps makes the process non-dumpable (Linux PR_SET_DUMPABLE 0: no
// core file, and no ptrace attach or /proc/PID/mem read by another
// process of the same user; root still can) and sets its core size limit,
// soft and hard, to zero, which the children it starts inherit (posd
// -check-db, which reads the database). Elsewhere than on Linux it does
// nothing.
package procsec
