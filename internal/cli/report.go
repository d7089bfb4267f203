package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/avatar-api/avatar-api/internal/stats"
	"github.com/avatar-api/avatar-api/internal/store"
)

const reportUsage = `Usage: avatar-api report [--since 24h] [--top 10] [--json]

What the service did in the span that ends now, read from its database:
jobs submitted and how they ended, the generation time percentiles of the
completed ones, billed time and cost, the top customers by usage and by
cost, the cost of today and of the month so far (per customer too), the
most common error codes and the slowest jobs. Days, months and times are
those of COST_TIMEZONE.`

// runReport prints the usage report.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, reportUsage); fs.PrintDefaults() }
	since := fs.String("since", "24h", "the span to report: a duration (`24h`, `90m`) or days (`7d`)")
	top := fs.Int("top", 10, "the length of each list")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	span, err := parseSpan(*since)
	if err != nil {
		return err
	}
	if *top < 1 || *top > 1000 {
		return fmt.Errorf("--top must be from 1 to 1000")
	}
	cfg, _, err := loadConfig(stderr)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	defer st.Close()
	now := time.Now()
	// From a whole minute: jobs pruned past JOB_RETENTION are counted by
	// the minute (job_rollups), so a window starting mid-minute would
	// count them differently from the rows they were.
	from := now.Add(-span).Truncate(time.Minute)
	r, err := stats.ReportOf(ctx, st, store.Window{From: from, To: now.Add(time.Second)}, *top)
	if err != nil {
		return err
	}
	r.To = now
	c, err := stats.CostAt(ctx, st, now, cfg.CostLocation)
	if err != nil {
		return err
	}
	r.ToDate = stats.ToDateOf(c, cfg.CostLocation)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printReport(stdout, r, *since, cfg.CostLocation)
	return nil
}

// parseSpan reads --since: a Go duration or a number of days.
func parseSpan(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, derr := strconv.Atoi(n)
		d, err = time.Duration(days)*24*time.Hour, derr
	}
	if err != nil || d <= 0 || d > 3650*24*time.Hour {
		return 0, fmt.Errorf("--since %q: want a duration such as 24h or a number of days such as 7d", v)
	}
	return d, nil
}

func printReport(w io.Writer, r *stats.Report, since string, loc *time.Location) {
	const when = "2006-01-02 15:04"
	fmt.Fprintf(w, "Avatar API report: the last %s, %s to %s (%s)\n\n", since, r.From.In(loc).Format(when), r.To.In(loc).Format(when), loc)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Jobs")
	fmt.Fprintf(tw, "  submitted\t%d\n", r.Submitted)
	success := "—"
	if r.SuccessRatio != nil {
		success = fmt.Sprintf("%.1f %% of the jobs that completed or failed", *r.SuccessRatio*100)
	}
	fmt.Fprintf(tw, "  completed\t%d\t%s\n", r.Completed, success)
	fmt.Fprintf(tw, "  failed\t%d\n", r.Failed)
	fmt.Fprintf(tw, "  cancelled\t%d\n", r.Cancelled)
	g := r.GenerationSeconds
	fmt.Fprintf(tw, "  generation time\tP50 %s\tP95 %s\tP99 %s\t(%d completed; nearest rank)\n", secs(g.P50), secs(g.P95), secs(g.P99), g.Count)
	fmt.Fprintf(tw, "  billed\t%.1f s\tcost %s\n", r.BilledSeconds, usd(r.CostUSD))
	tw.Flush()

	fmt.Fprintln(w, "\nTop customers by usage (jobs submitted in the span)")
	table(w, "CUSTOMER\tSUBMITTED\tCOMPLETED\tFAILED\tCANCELLED", len(r.TopByUsage), func(i int) string {
		u := r.TopByUsage[i]
		return fmt.Sprintf("%s\t%d\t%d\t%d\t%d", u.Customer, u.Submitted, u.Completed, u.Failed, u.Cancelled)
	})
	fmt.Fprintln(w, "\nTop customers by cost (runs billed in the span)")
	table(w, "CUSTOMER\tJOBS\tBILLED\tCOST", len(r.TopByCost), func(i int) string {
		c := r.TopByCost[i]
		return fmt.Sprintf("%s\t%d\t%.1f s\t%s", c.Customer, c.Jobs, c.BilledSeconds, usd(c.CostUSD))
	})
	if t := r.ToDate; t != nil {
		fmt.Fprintf(w, "\nCost today and this month (days in %s): today %s, month to date %s, forecast for the month %s\n",
			t.Timezone, usd(t.TodayUSD), usd(t.MonthUSD), usd(t.ForecastUSD))
		table(w, "CUSTOMER\tTODAY\tMONTH", len(t.Customers), func(i int) string {
			c := t.Customers[i]
			return fmt.Sprintf("%s\t%s\t%s", c.Customer, usd(c.TodayUSD), usd(c.MonthUSD))
		})
	}
	fmt.Fprintln(w, "\nMost common error codes")
	table(w, "CODE\tJOBS", len(r.ErrorCodes), func(i int) string {
		return fmt.Sprintf("%s\t%d", r.ErrorCodes[i].Code, r.ErrorCodes[i].Jobs)
	})
	fmt.Fprintln(w, "\nSlowest jobs")
	table(w, "JOB\tCUSTOMER\tGENERATION\tAUDIO\tWORKER\tFINISHED", len(r.Slowest), func(i int) string {
		j := r.Slowest[i]
		return fmt.Sprintf("%s\t%s\t%.1f s\t%.1f s\t%s\t%s", j.JobID, j.Customer, j.GenerationSeconds, j.AudioSeconds, j.Worker, j.FinishedAt.In(loc).Format(when))
	})
}

// table prints a header and n rows, or "  (none)".
func table(w io.Writer, header string, n int, row func(int) string) {
	if n == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+header)
	for i := range n {
		fmt.Fprintln(tw, "  "+row(i))
	}
	tw.Flush()
}

func secs(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f s", *v)
}

func usd(v float64) string {
	if v < 1 {
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}
