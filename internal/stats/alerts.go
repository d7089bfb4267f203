package stats

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

// AlertsPanel is the alerts' state on the dashboard: what fires now, how
// each channel's deliveries fare, and the spending cap.
type AlertsPanel struct {
	Firing   []FiringAlert  `json:"firing"`
	Channels []AlertChannel `json:"channels" doc:"Every configured channel, and any other that still has notifications"`
	Cap      *CapPanel      `json:"cap" doc:"The spending cap; null when none is set"`
}

// FiringAlert is one alert firing now.
type FiringAlert struct {
	Key        string    `json:"key"`
	Rule       string    `json:"rule"`
	Severity   string    `json:"severity"`
	Summary    string    `json:"summary"`
	Since      time.Time `json:"since"`
	NotifiedAt time.Time `json:"notified_at"`
}

// AlertChannel is one channel's deliveries. Its id holds its host and a
// hash, never a URL's path or a password.
type AlertChannel struct {
	Channel         string     `json:"channel"`
	Kind            string     `json:"kind"`
	Configured      bool       `json:"configured"`
	Pending         int64      `json:"pending"`
	Delivered       int64      `json:"delivered"`
	Failed          int64      `json:"failed"`
	LastAttemptAt   *time.Time `json:"last_attempt_at"`
	LastDelivered   bool       `json:"last_delivered"`
	LastDeliveredAt *time.Time `json:"last_delivered_at"`
	LastError       string     `json:"last_error,omitempty"`
	FailingSince    *time.Time `json:"failing_since" doc:"The first failed attempt since the last delivery; null when the last attempt delivered"`
}

// CapPanel is the spending cap and whether new jobs are refused.
type CapPanel struct {
	DailyUSD   *float64   `json:"daily_usd"`
	MonthlyUSD *float64   `json:"monthly_usd"`
	Exhausted  bool       `json:"exhausted"`
	Period     string     `json:"period,omitempty" doc:"day or month: the cap that is reached"`
	SpentUSD   float64    `json:"spent_usd,omitempty"`
	ResetsAt   *time.Time `json:"resets_at" doc:"When new jobs are accepted again; null when they are"`
}

// Alerts reads what the alerts panel shows: the firing alerts (at most
// 50), every channel in configured and any other with notifications, and
// the cap (nil: none).
func Alerts(ctx context.Context, a store.Alerts, configured []string, c *Cap) (*AlertsPanel, error) {
	states, err := a.AlertStates(ctx, 50)
	if err != nil {
		return nil, fmt.Errorf("reading alerts: %w", err)
	}
	p := &AlertsPanel{Firing: []FiringAlert{}, Channels: []AlertChannel{}}
	for _, s := range states {
		if s.Firing {
			p.Firing = append(p.Firing, FiringAlert{Key: s.Key, Rule: s.Rule, Severity: s.Severity, Summary: s.Summary,
				Since: s.StartedAt.UTC(), NotifiedAt: s.NotifiedAt.UTC()})
		}
	}
	chans, err := a.ChannelStates(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading alert channels: %w", err)
	}
	seen := map[string]bool{}
	for _, id := range configured {
		seen[id] = true
		ch := AlertChannel{Channel: id, Kind: channelKind(id), Configured: true}
		for _, s := range chans {
			if s.Channel == id {
				fillChannel(&ch, s)
			}
		}
		p.Channels = append(p.Channels, ch)
	}
	for _, s := range chans {
		if !seen[s.Channel] {
			ch := AlertChannel{Channel: s.Channel, Kind: channelKind(s.Channel)}
			fillChannel(&ch, s)
			p.Channels = append(p.Channels, ch)
		}
	}
	if c.On() {
		st, err := c.Check(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the spending cap: %w", err)
		}
		cp := &CapPanel{Exhausted: st.Exhausted, Period: st.Period}
		if c.Daily > 0 {
			cp.DailyUSD = ptr(c.Daily.USD())
		}
		if c.Monthly > 0 {
			cp.MonthlyUSD = ptr(c.Monthly.USD())
		}
		if st.Exhausted {
			cp.SpentUSD = st.Spent.USD()
			r := st.ResetsAt.UTC()
			cp.ResetsAt = &r
		}
		p.Cap = cp
	}
	return p, nil
}

func fillChannel(ch *AlertChannel, s store.ChannelState) {
	ch.Pending, ch.Delivered, ch.Failed = s.Pending, s.Delivered, s.Failed
	ch.LastAttemptAt, ch.LastDelivered, ch.LastDeliveredAt = utc(s.LastAttemptAt), s.LastDelivered, utc(s.LastDeliveredAt)
	ch.LastError, ch.FailingSince = s.LastError, utc(s.FailingSince)
}

// channelKind is the kind a channel id starts with ("webhook", "email").
func channelKind(id string) string {
	kind, _, _ := strings.Cut(id, ":")
	return kind
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
