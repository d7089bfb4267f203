// Package alert decides which alerts fire: the owner's rules (a daily cost
// threshold, a monthly budget, the failure ratio, the queue's wait, a
// customer's spike of rate-limit refusals) evaluated over the facts of one
// moment. Evaluate is pure: the figures come in, the firing alerts come
// out, each with a key that names its rule, its period and its threshold,
// so that whoever records and sends them can do it once per key.
//
// Engine (engine.go) gathers the facts from the store, evaluates the rules
// and records the outcome, and delivers the notifications the store
// decided through the channels (channels.go, package notify).
package alert

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
)

// Rule names, stable: in keys, payloads and the dashboard.
const (
	RuleCostDaily        = "cost_daily"
	RuleBudgetActual     = "budget_actual"
	RuleBudgetForecast   = "budget_forecast"
	RuleFailureRatio     = "failure_ratio"
	RuleQueueWait        = "queue_wait"
	RuleRateLimitSpike   = "rate_limit_spike"
	severityWarning      = "warning"
	severityCritical     = "critical"
	budgetFullPercentage = 100
)

// RuleNames are every rule's name.
var RuleNames = []string{RuleCostDaily, RuleBudgetActual, RuleBudgetForecast, RuleFailureRatio, RuleQueueWait, RuleRateLimitSpike}

// BudgetPercentages are the shares of the monthly budget that alert, of
// the month's actual spend and of its forecast, as AWS Budgets does.
var BudgetPercentages = []int{50, 80, 100}

// Rules are the owner's thresholds; a zero value turns its rule off.
type Rules struct {
	DailyThreshold store.NanoUSD // COST_DAILY_THRESHOLD_USD
	MonthlyBudget  store.NanoUSD // COST_MONTHLY_BUDGET_USD
	FailureRatio   float64       // ALERT_FAILURE_RATIO, over the last hour
	FailureMinJobs int           // ALERT_FAILURE_MIN_JOBS: fewer ended jobs in the hour say nothing
	QueueWait      time.Duration // ALERT_QUEUE_WAIT: the oldest queued job's age
	// RefusalSpike is how many rate-limit refusals of one customer in
	// the last hour make a spike.
	RefusalSpike int
}

// Facts are what the rules look at, as of Now.
type Facts struct {
	Now      time.Time
	Location *time.Location // COST_TIMEZONE: the day and month of the cost rules
	Cost     stats.Cost     // today, the month, its forecast
	// The last hour's jobs that ended, and how many of them failed.
	Ended, Failed int
	// OldestQueued is how long the oldest queued job has waited (0: none).
	OldestQueued time.Duration
	// Refusals are the last hour's rate-limit refusals by customer.
	Refusals map[string]int
}

// Firing is an alert that holds now.
type Firing struct {
	Rule     string
	Key      string // rule, period and threshold: one notification per key
	Severity string
	Summary  string // one line
	// Description says what it means and what to do.
	Description string
	Figures     []Figure
}

// Figure is one named value shown with an alert.
type Figure struct{ Name, Value string }

// Evaluate returns the alerts that hold for f, ordered by key.
func (r Rules) Evaluate(f Facts) []Firing {
	loc := f.Location
	if loc == nil {
		loc = time.UTC
	}
	now := f.Now.In(loc)
	day, month := now.Format("2006-01-02"), now.Format("2006-01")
	var out []Firing
	c := f.Cost
	if t := r.DailyThreshold; t > 0 && c.Today >= t {
		out = append(out, Firing{
			Rule: RuleCostDaily, Key: RuleCostDaily + "/" + day + "/" + usdKey(t), Severity: severityWarning,
			Summary:     fmt.Sprintf("GPU cost today is %s, over the %s threshold", usd(c.Today), usd(t)),
			Description: "Today's generation cost has passed COST_DAILY_THRESHOLD_USD. Review the dashboard's top customers and queue; to spend less, lower the endpoint's max workers (avatar-api runpod scale --max-workers N) or a customer's rate limit.",
			Figures: []Figure{{"cost today", usd(c.Today)}, {"threshold", usd(t)}, {"day", day + " (" + loc.String() + ")"},
				{"cost in the last 24 h", usd(c.Last24h)}},
		})
	}
	if b := r.MonthlyBudget; b > 0 {
		for _, p := range BudgetPercentages {
			limit := b * store.NanoUSD(p) / 100
			sev := severityWarning
			if p >= budgetFullPercentage {
				sev = severityCritical
			}
			figures := []Figure{{"month to date", usd(c.Month)}, {"forecast for the month", usd(c.Forecast)},
				{"budget", usd(b)}, {"month", month + " (" + loc.String() + ")"}}
			if c.Month >= limit {
				out = append(out, Firing{
					Rule: RuleBudgetActual, Key: RuleBudgetActual + "/" + month + "/" + strconv.Itoa(p), Severity: sev, Figures: figures,
					Summary:     fmt.Sprintf("%d%% of the monthly budget spent: %s of %s", p, usd(c.Month), usd(b)),
					Description: "The month's generation cost has reached this share of COST_MONTHLY_BUDGET_USD. Review the dashboard's cost panels; to spend less, lower the endpoint's max workers or customers' rate limits.",
				})
			}
			// The forecast warns of a share not yet spent; once spent, the
			// actual alert says it.
			if c.Forecast >= limit && c.Month < limit {
				out = append(out, Firing{
					Rule: RuleBudgetForecast, Key: RuleBudgetForecast + "/" + month + "/" + strconv.Itoa(p), Severity: severityWarning, Figures: figures,
					Summary:     fmt.Sprintf("the month is forecast to reach %d%% of its budget: %s of %s", p, usd(c.Forecast), usd(b)),
					Description: "At the last 24 hours' rate the month will end at or over this share of COST_MONTHLY_BUDGET_USD. Nothing is over yet: act now to stay within it.",
				})
			}
		}
	}
	if r.FailureRatio > 0 && f.Ended >= max(r.FailureMinJobs, 1) {
		ratio := float64(f.Failed) / float64(f.Ended)
		if ratio >= r.FailureRatio {
			out = append(out, Firing{
				Rule: RuleFailureRatio, Key: RuleFailureRatio, Severity: severityCritical,
				Summary:     fmt.Sprintf("%.1f%% of the jobs of the last hour failed (%d of %d)", 100*ratio, f.Failed, f.Ended),
				Description: "More jobs fail than ALERT_FAILURE_RATIO allows. The dashboard's recent failures and `avatar-api report --since 1h` show their codes; the service's log has the causes.",
				Figures: []Figure{{"failed", strconv.Itoa(f.Failed)}, {"ended", strconv.Itoa(f.Ended)},
					{"threshold", fmt.Sprintf("%.1f%%", 100*r.FailureRatio)}},
			})
		}
	}
	if r.QueueWait > 0 && f.OldestQueued >= r.QueueWait {
		out = append(out, Firing{
			Rule: RuleQueueWait, Key: RuleQueueWait, Severity: severityWarning,
			Summary:     fmt.Sprintf("the oldest queued job has waited %s", f.OldestQueued.Round(time.Second)),
			Description: "Jobs wait longer than ALERT_QUEUE_WAIT: the workers cannot keep up, or none are running. Check the dashboard's workers and queue; add workers, or raise the endpoint's max workers.",
			Figures:     []Figure{{"oldest wait", f.OldestQueued.Round(time.Second).String()}, {"threshold", r.QueueWait.String()}},
		})
	}
	if r.RefusalSpike > 0 {
		for customer, n := range f.Refusals {
			if n < r.RefusalSpike {
				continue
			}
			out = append(out, Firing{
				Rule: RuleRateLimitSpike, Key: RuleRateLimitSpike + "/" + customer, Severity: severityWarning,
				Summary:     fmt.Sprintf("customer %s was refused %d requests by its rate limit in the last hour", customer, n),
				Description: "A customer's client keeps calling past its rate limit: a retry loop, or a need for a higher limit (avatar-api keys update … --rate-limit N).",
				Figures:     []Figure{{"customer", customer}, {"refusals in the last hour", strconv.Itoa(n)}, {"threshold", strconv.Itoa(r.RefusalSpike)}},
			})
		}
	}
	slices.SortFunc(out, func(a, b Firing) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return out
}

// usd is an amount as a customer reads it: cents, or finer under a dollar.
func usd(n store.NanoUSD) string {
	if v := n.USD(); v < 1 && v != 0 {
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.2f", n.USD())
}

// usdKey is a threshold as a key holds it: exact, in nano-dollars, so that
// a changed threshold is a new key.
func usdKey(n store.NanoUSD) string { return strconv.FormatInt(int64(n), 10) + "n" }
