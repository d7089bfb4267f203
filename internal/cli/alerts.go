package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/store"
)

const alertsUsage = `Usage: avatar-api alerts test [--channel webhook|email]
       avatar-api alerts list [--json] [--last N]

test: send a test alert through each configured channel now (or those of
one kind) and print what happened to each: delivered with its status and
time, or why not. It goes straight out, not through the queue, and is not
recorded.
list: the rules and their thresholds, the alerts recorded (firing first)
and the last notifications with their delivery state.

Channels: ALERT_WEBHOOK_URLS, and ALERT_EMAIL_TO with ALERT_EMAIL_FROM
and SMTP_URL. See docs/monitoring.md.`

// runAlerts runs `avatar-api alerts test|list`.
func runAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, fs, err := subcommand("alerts", alertsUsage, "test or list", args, stderr)
	if err != nil {
		return err
	}
	channel := fs.String("channel", "", "test: only the channels of this kind (webhook or email)")
	asJSON := fs.Bool("json", false, "list: print JSON")
	last := fs.Int("last", 20, "list: how many notifications to show")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, _, err := loadConfig(stderr)
	if err != nil {
		return err
	}
	switch sub {
	case "test":
		if *channel != "" && *channel != "webhook" && *channel != "email" {
			return fmt.Errorf("--channel must be webhook or email, not %q", *channel)
		}
		return testAlerts(ctx, cfg, *channel, stdout)
	case "list":
		if *last < 1 || *last > 1000 {
			return errors.New("--last must be from 1 to 1000")
		}
		st, err := openStore(ctx, cfg)
		if err != nil {
			return fmt.Errorf("opening database: %w", err)
		}
		defer st.Close()
		return listAlerts(ctx, cfg, st, *last, *asJSON, stdout)
	}
	fmt.Fprintln(stderr, alertsUsage)
	return fmt.Errorf("unknown subcommand %q: test or list", sub)
}

func testAlerts(ctx context.Context, cfg *config.Config, kind string, stdout io.Writer) error {
	e := app.NewAlerts(cfg, nil, nil, nil)
	ds := e.Test(ctx, kind)
	if len(ds) == 0 {
		switch kind {
		case "webhook":
			return errors.New("no webhook channel is configured: set ALERT_WEBHOOK_URLS")
		case "email":
			return errors.New("no email channel is configured: set ALERT_EMAIL_TO, ALERT_EMAIL_FROM and SMTP_URL")
		}
		return errors.New("no alert channel is configured: set ALERT_WEBHOOK_URLS, or ALERT_EMAIL_TO, ALERT_EMAIL_FROM and SMTP_URL")
	}
	failed := 0
	for _, d := range ds {
		if d.Delivered() {
			fmt.Fprintf(stdout, "%-7s %s: delivered (%d) in %s\n", d.Channel, d.Target, d.Status, d.Latency.Round(time.Millisecond))
			continue
		}
		failed++
		fmt.Fprintf(stdout, "%-7s %s: NOT delivered after %s: %v\n", d.Channel, d.Target, d.Latency.Round(time.Millisecond), d.Err)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d channels failed", failed, len(ds))
	}
	return nil
}

// alertList is what `alerts list --json` prints.
type alertList struct {
	Rules         []ruleRow         `json:"rules"`
	Channels      []string          `json:"channels"`
	Alerts        []alertRow        `json:"alerts"`
	Notifications []notificationRow `json:"notifications"`
}

// alertRow and notificationRow show their payload as the JSON it is.
type alertRow struct {
	store.AlertState
	Payload json.RawMessage
}

type notificationRow struct {
	store.Notification
	Payload json.RawMessage
}

type ruleRow struct {
	Rule      string `json:"rule"`
	Threshold string `json:"threshold"`
}

func listAlerts(ctx context.Context, cfg *config.Config, st store.Alerts, last int, asJSON bool, stdout io.Writer) error {
	e := app.NewAlerts(cfg, nil, nil, nil)
	out := alertList{Rules: rulesOf(cfg)}
	for _, ch := range e.Channels {
		out.Channels = append(out.Channels, ch.ID())
	}
	states, err := st.AlertStates(ctx, 100)
	if err != nil {
		return err
	}
	for _, a := range states {
		out.Alerts = append(out.Alerts, alertRow{a, json.RawMessage(a.Payload)})
	}
	notes, err := st.Notifications(ctx, last)
	if err != nil {
		return err
	}
	for _, n := range notes {
		out.Notifications = append(out.Notifications, notificationRow{n, json.RawMessage(n.Payload)})
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tTHRESHOLD")
	for _, r := range out.Rules {
		fmt.Fprintf(tw, "%s\t%s\n", r.Rule, r.Threshold)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nchannels: %s\n", orNone(strings.Join(out.Channels, ", ")))
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALERT\tSTATE\tSINCE\tSUMMARY")
	for _, a := range out.Alerts {
		state, since := "firing", a.StartedAt
		if !a.Firing && a.ResolvedAt != nil {
			state, since = "resolved", *a.ResolvedAt
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Key, state, since.UTC().Format(time.RFC3339), a.Summary)
	}
	if len(out.Alerts) == 0 {
		fmt.Fprintln(tw, "(none recorded)\t\t\t")
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NOTIFICATION\tALERT\tSTATUS\tCHANNEL\tDELIVERY\tATTEMPTS\tLAST")
	for _, n := range out.Notifications {
		status := n.Status
		if n.Repeat {
			status += " (repeat)"
		}
		lastAt := "-"
		if n.LastAttemptAt != nil {
			lastAt = n.LastAttemptAt.UTC().Format(time.RFC3339)
			if n.LastError != "" {
				lastAt += ": " + n.LastError
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.ID, n.AlertKey, status, n.Channel, n.State, n.Attempts, lastAt)
	}
	if len(out.Notifications) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t\t")
	}
	return tw.Flush()
}

// rulesOf lists the rules with their thresholds, "off" where unset.
func rulesOf(cfg *config.Config) []ruleRow {
	off := func(on bool, s string) string {
		if !on {
			return "off"
		}
		return s
	}
	return []ruleRow{
		{"cost_daily", off(cfg.CostDailyThreshold > 0, dollars(cfg.CostDailyThreshold)+" a day ("+cfg.CostLocation.String()+")")},
		{"budget_actual / budget_forecast", off(cfg.CostMonthlyBudget > 0, "50/80/100 % of "+dollars(cfg.CostMonthlyBudget)+" a month")},
		{"failure_ratio", off(cfg.AlertFailureRatio > 0, fmt.Sprintf("%.1f %% of the last hour's jobs, at least %d ended", 100*cfg.AlertFailureRatio, cfg.AlertFailureMinJobs))},
		{"queue_wait", off(cfg.AlertQueueWait > 0, "oldest queued job waiting "+cfg.AlertQueueWait.String())},
		{"rate_limit_spike", off(cfg.AlertRateLimitRefusals > 0, fmt.Sprintf("%d refusals of one customer in an hour", cfg.AlertRateLimitRefusals))},
		{"spending cap", off(cfg.CostDailyCap > 0 || cfg.CostMonthlyCap > 0, capText(cfg))},
		{"evaluated every / repeated every", fmt.Sprintf("%s / %s", cfg.AlertEvalInterval, off(cfg.AlertRepeatInterval > 0, cfg.AlertRepeatInterval.String()))},
	}
}

func capText(cfg *config.Config) string {
	var parts []string
	if cfg.CostDailyCap > 0 {
		parts = append(parts, dollars(cfg.CostDailyCap)+" a day")
	}
	if cfg.CostMonthlyCap > 0 {
		parts = append(parts, dollars(cfg.CostMonthlyCap)+" a month")
	}
	return strings.Join(parts, ", ")
}

// dollars is an amount as the operator wrote it: $10, $0.0001.
func dollars(n store.NanoUSD) string { return "$" + strconv.FormatFloat(n.USD(), 'f', -1, 64) }

func orNone(s string) string {
	if s == "" {
		return "none configured"
	}
	return s
}
