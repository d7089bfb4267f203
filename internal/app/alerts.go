package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/avatar-api/avatar-api/internal/alert"
	"github.com/avatar-api/avatar-api/internal/alert/notify"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/metric"
	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store/sqlstore"
)

// Alerts is the alert engine of this process (NewAlerts), built on
// first use. The workers evaluate and deliver with it.
func (a *App) Alerts() *alert.Engine {
	if a.alerts == nil {
		a.alerts = NewAlerts(a.Config, a.Store, a.Log, a.alertClock)
		a.alerts.Delivered = func(ch alert.Channel, d notify.Delivery) { a.Metrics.AlertAttempt(ch.ID(), d.Delivered()) }
	}
	return a.alerts
}

// NewAlerts builds the alert engine of the configuration: its rules, its
// channels (each webhook URL, and email when ALERT_EMAIL_TO is set) and
// the store it records in (nil for one that only tests its channels);
// now is its clock (nil: time.Now).
func NewAlerts(cfg *config.Config, st alert.Store, log *slog.Logger, now func() time.Time) *alert.Engine {
	if log != nil {
		log = log.With("component", "alerts")
	}
	var chans []alert.Channel
	for _, u := range cfg.AlertWebhookURLs { // distinct: config drops repeats
		chans = append(chans, alert.NewWebhook(u, cfg.AlertWebhookSecret, cfg.PublicURL))
	}
	if len(cfg.AlertEmailTo) > 0 {
		chans = append(chans, alert.NewEmail(cfg.SMTPURL, cfg.AlertEmailFrom, cfg.AlertEmailTo))
	}
	return &alert.Engine{
		Rules: alert.Rules{
			DailyThreshold: cfg.CostDailyThreshold, MonthlyBudget: cfg.CostMonthlyBudget,
			FailureRatio: cfg.AlertFailureRatio, FailureMinJobs: cfg.AlertFailureMinJobs,
			QueueWait: cfg.AlertQueueWait, RefusalSpike: cfg.AlertRateLimitRefusals,
		},
		Store: st, Location: cfg.CostLocation, Repeat: cfg.AlertRepeatInterval, Channels: chans,
		DashboardURL: cfg.PublicURL + "/dashboard", Log: log, Now: now,
	}
}

// channelIDs are the configured channels' ids.
func (a *App) channelIDs() []string {
	var ids []string
	for _, ch := range a.Alerts().Channels {
		ids = append(ids, ch.ID())
	}
	return ids
}

// spendingCap is the cap of COST_DAILY_CAP_USD and COST_MONTHLY_CAP_USD,
// one per process (the API's check and the dashboard share its reading);
// nil when neither is set.
func (a *App) spendingCap() *stats.Cap {
	cfg := a.Config
	if a.cap == nil {
		a.cap = &stats.Cap{Daily: cfg.CostDailyCap, Monthly: cfg.CostMonthlyCap, History: a.Store,
			Location: cfg.CostLocation, Now: a.alertClock}
	}
	if !a.cap.On() {
		return nil
	}
	return a.cap
}

// alertMetrics reports the alerts' state at scrape time: the firing alerts
// per rule (every rule, at 0 when quiet) and each channel's state.
func (a *App) alertMetrics() {
	ids := a.channelIDs()
	a.Metrics.SetAlertSource(func(ctx context.Context) (metric.AlertState, error) {
		st := metric.AlertState{Firing: map[string]int{}}
		for _, r := range alert.RuleNames {
			st.Firing[r] = 0
		}
		states, err := a.Store.AlertStates(ctx, 1000)
		if err != nil {
			return st, err
		}
		for _, s := range states {
			if s.Firing {
				st.Firing[s.Rule]++
			}
		}
		chans, err := a.Store.ChannelStates(ctx)
		if err != nil {
			return st, err
		}
		for _, id := range ids {
			ch := metric.AlertChannel{Channel: id}
			for _, s := range chans {
				if s.Channel == id {
					ch.Failing, ch.Pending, ch.Failed = s.FailingSince != nil, int(s.Pending), int(s.Failed)
				}
			}
			st.Channels = append(st.Channels, ch)
		}
		return st, nil
	})
}

// alertReadiness is /ready's "alerts" check: "ok", or "degraded: …"
// with how many configured channels' last delivery attempt failed. A
// failing receiver is the operator's to fix; the API still serves. /ready
// is public: which channels, and why, are on the dashboard, in the
// metrics and in the log.
func (a *App) alertReadiness(ctx context.Context) string {
	ids := a.channelIDs()
	if len(ids) == 0 {
		return "ok"
	}
	chans, err := a.Store.ChannelStates(ctx)
	if err != nil {
		return "degraded: reading the alert channels' state failed"
	}
	failing := 0
	for _, s := range chans {
		if s.FailingSince != nil && slices.Contains(ids, s.Channel) {
			failing++
		}
	}
	if failing == 0 {
		return "ok"
	}
	return fmt.Sprintf("degraded: %d of %d alert channels failing (the dashboard's Alerts panel says which)", failing, len(ids))
}

// The store is what the engine records in.
var _ alert.Store = (*sqlstore.Store)(nil)
