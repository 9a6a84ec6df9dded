package api

import (
	"net/http"

	"posd/internal/daemon"
)

// offlineView is the offline approvals waiting for their advice as the
// status and posctl sync show them: the daemon's count and sum in minor
// units (kept: clients read them), and the sum as every other answer
// says an amount, "12.34" with its currency.
type offlineView struct {
	daemon.OfflineStatus
	AmountDecimal string `json:"amount_decimal,omitempty"`
	Currency      string `json:"currency,omitempty"`
}

// viewOffline formats o's sum in the terminal's currency (the ledger's).
func (a *api) viewOffline(o daemon.OfflineStatus) offlineView {
	v := offlineView{OfflineStatus: o}
	if o.Error == "" && a.d.Settings.Currency.Alpha != "" {
		v.AmountDecimal, v.Currency = a.d.Settings.Currency.Format(o.Amount), a.d.Settings.Currency.Alpha
	}
	return v
}

func (a *api) getStatus(w http.ResponseWriter, r *http.Request) {
	st := a.d.Status()
	writeJSON(w, http.StatusOK, struct {
		daemon.Status
		Offline offlineView `json:"offline"` // in place of the daemon's
	}{st, a.viewOffline(st.Offline)})
}

// sync forwards the offline approvals' advices now (posctl sync) and
// answers what still waits.
func (a *api) sync(w http.ResponseWriter, r *http.Request) {
	if !decode(w, r, &struct{}{}) {
		return
	}
	res, err := a.d.Sync(r.Context())
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	o := a.viewOffline(res.OfflineStatus)
	writeJSON(w, http.StatusOK, struct {
		daemon.SyncResult
		AmountDecimal string `json:"amount_decimal,omitempty"`
		Currency      string `json:"currency,omitempty"`
	}{res, o.AmountDecimal, o.Currency})
}
