package alert_test

import (
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/alert"
	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
)

const dollar = store.NanoUSD(1e9)

func keys(fs []alert.Firing) string {
	var k []string
	for _, f := range fs {
		k = append(k, f.Key)
	}
	return strings.Join(k, " ")
}

func TestCostRules(t *testing.T) {
	t.Parallel()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// 23:30 UTC on the 2nd is 08:30 on the 3rd in Tokyo: the day and
	// month are COST_TIMEZONE's.
	now := time.Date(2026, 12, 2, 23, 30, 0, 0, time.UTC)
	r := alert.Rules{DailyThreshold: 10 * dollar, MonthlyBudget: 100 * dollar}
	for _, c := range []struct {
		name                   string
		today, month, forecast store.NanoUSD
		want                   string
	}{
		{"quiet", 1 * dollar, 10 * dollar, 40 * dollar, ""},
		{"daily threshold reached", 10 * dollar, 20 * dollar, 40 * dollar, "cost_daily/2026-12-03/10000000000n"},
		{"forecast past half and 80%", 1 * dollar, 40 * dollar, 85 * dollar,
			"budget_forecast/2026-12/50 budget_forecast/2026-12/80"},
		{"half spent, forecast over", 1 * dollar, 50 * dollar, 120 * dollar,
			"budget_actual/2026-12/50 budget_forecast/2026-12/100 budget_forecast/2026-12/80"},
		{"over budget", 12 * dollar, 101 * dollar, 150 * dollar,
			"budget_actual/2026-12/100 budget_actual/2026-12/50 budget_actual/2026-12/80 cost_daily/2026-12-03/10000000000n"},
	} {
		got := r.Evaluate(alert.Facts{Now: now, Location: tokyo,
			Cost: stats.Cost{Today: c.today, Month: c.month, Forecast: c.forecast}})
		if k := keys(got); k != c.want {
			t.Errorf("%s: %q, want %q", c.name, k, c.want)
		}
		for _, f := range got {
			if f.Summary == "" || f.Description == "" || len(f.Figures) == 0 || f.Severity == "" {
				t.Errorf("%s: %s is missing words: %+v", c.name, f.Key, f)
			}
		}
	}
	// A changed threshold is a new key: the new one alerts once too.
	r.DailyThreshold = 11 * dollar
	if k := keys(r.Evaluate(alert.Facts{Now: now, Location: tokyo, Cost: stats.Cost{Today: 12 * dollar}})); k != "cost_daily/2026-12-03/11000000000n" {
		t.Errorf("new threshold: %q", k)
	}
	// The story's lowered threshold reads in fractions of a cent.
	low := alert.Rules{DailyThreshold: 100_000}.Evaluate(alert.Facts{Now: now, Cost: stats.Cost{Today: 200_000}})
	if len(low) != 1 || !strings.Contains(low[0].Summary, "$0.0002") || !strings.Contains(low[0].Summary, "$0.0001") {
		t.Errorf("lowered threshold: %+v", low)
	}
}

func TestOperationalRules(t *testing.T) {
	t.Parallel()
	r := alert.Rules{FailureRatio: 0.05, FailureMinJobs: 10, QueueWait: 15 * time.Minute, RefusalSpike: 100}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		facts alert.Facts
		want  string
	}{
		{"too few jobs to judge", alert.Facts{Ended: 9, Failed: 9}, ""},
		{"failure ratio under", alert.Facts{Ended: 100, Failed: 4}, ""},
		{"failure ratio reached", alert.Facts{Ended: 100, Failed: 5}, "failure_ratio"},
		{"queue moving", alert.Facts{OldestQueued: 14 * time.Minute}, ""},
		{"queue stuck", alert.Facts{OldestQueued: 15 * time.Minute}, "queue_wait"},
		{"refusals", alert.Facts{Refusals: map[string]int{"acme": 100, "quiet": 99}}, "rate_limit_spike/acme"},
	} {
		c.facts.Now = now
		if k := keys(r.Evaluate(c.facts)); k != c.want {
			t.Errorf("%s: %q, want %q", c.name, k, c.want)
		}
	}
	if k := keys(alert.Rules{}.Evaluate(alert.Facts{Now: now, Ended: 100, Failed: 100, OldestQueued: time.Hour,
		Cost: stats.Cost{Today: 1000 * dollar}, Refusals: map[string]int{"a": 1e6}})); k != "" {
		t.Errorf("rules off, yet %q", k)
	}
}
