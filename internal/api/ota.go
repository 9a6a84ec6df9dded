package api

import (
	"errors"
	"net/http"

	"posd/internal/daemon"
)

// getOTA is the update status: the repository, the parameter set and
// firmware in use, the last check (posctl ota status).
func (a *api) getOTA(w http.ResponseWriter, r *http.Request) {
	st, err := a.d.OTAStatus()
	if errors.Is(err, daemon.ErrNoOTA) {
		fail(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// checkOTA asks for a check now (posctl ota check); it runs within a few
// seconds, the status then shows its result.
func (a *api) checkOTA(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !decode(w, r, &req) {
		return
	}
	if err := a.d.CheckUpdates(); errors.Is(err, daemon.ErrNoOTA) {
		fail(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"check": "requested"})
}

// getOTAHistory is the update history, newest first (posctl ota history).
func (a *api) getOTAHistory(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r, 50)
	if !ok {
		return
	}
	list, err := a.d.OTAHistory(limit)
	switch {
	case errors.Is(err, daemon.ErrNoOTA):
		fail(w, http.StatusNotFound, err)
	case err != nil:
		fail(w, http.StatusInternalServerError, err)
	default:
		if list == nil {
			list = []daemon.OTAEvent{}
		}
		writeJSON(w, http.StatusOK, list)
	}
}
