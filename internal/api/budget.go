package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/stats"
)

// CodeBudgetExhausted is the code of a new job refused because the day's
// or the month's spending cap is reached.
const CodeBudgetExhausted = "budget_exhausted"

// Budget is the spending cap (stats.Cap).
type Budget interface {
	Check(ctx context.Context) (stats.CapState, error)
}

// checkBudget refuses a new job once a spending cap is reached: 429 with
// the time the period ends in Retry-After and resets_at. A replay of an
// Idempotency-Key already used gets its job back: it starts nothing. A
// failed read of the cost lets the job through: the cap must not stop
// the service when the database hiccups (the job's creation would fail
// then anyway).
func (a *api) checkBudget(ctx context.Context, idempotencyKey string) error {
	if a.Budget == nil {
		return nil
	}
	st, err := a.Budget.Check(ctx)
	if err != nil {
		a.Log.ErrorContext(ctx, "reading the cost for the spending cap failed; job allowed", "error", err)
		return nil
	}
	if !st.Exhausted {
		return nil
	}
	if idempotencyKey != "" && a.Jobs.IsReplay(ctx, owner(ctx), idempotencyKey) {
		return nil
	}
	secs := int(math.Ceil(st.ResetsAt.Sub(st.At).Seconds()))
	resets := st.ResetsAt.UTC()
	period := "daily"
	if st.Period == "month" {
		period = "monthly"
	}
	p := problem.New(http.StatusTooManyRequests, CodeBudgetExhausted,
		fmt.Sprintf("the service's %s spending cap ($%s) is reached; new jobs are accepted again at %s, or once the operator raises it",
			period, strconv.FormatFloat(st.Cap.USD(), 'f', -1, 64), resets.Format(time.RFC3339))).
		WithHeader("Retry-After", strconv.Itoa(max(secs, 1)))
	p.ResetsAt = &resets
	return p
}
