package notify

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// amMessage is Alertmanager's webhook payload, version 4: notify/webhook's
// Message, which embeds template.Data.
type amMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []amAlert         `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
}

// amAlert is template.Alert.
type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// receiverName is the receiver field: the sender, as Alertmanager names
// the receiver that sent the notification.
const receiverName = "avatar-api"

// labels are the alert's labels: the caller's, then alertname, severity and
// key, which the caller cannot override.
func labels(a Alert) map[string]string {
	l := make(map[string]string, len(a.Labels)+3)
	for k, v := range a.Labels {
		l[k] = v
	}
	l["alertname"] = a.Rule
	if a.Severity != "" {
		l["severity"] = a.Severity
	}
	if a.Key != "" {
		l["key"] = a.Key
	}
	return l
}

// annotations are summary, description, figures ("Name: Value" lines) and
// dashboard_url, those that are set.
func annotations(a Alert) map[string]string {
	an := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			an[k] = v
		}
	}
	set("summary", a.Summary)
	set("description", a.Description)
	set("figures", figureLines(a.Figures))
	set("dashboard_url", a.DashboardURL)
	return an
}

func figureLines(fs []Figure) string {
	lines := make([]string, 0, len(fs))
	for _, f := range fs {
		lines = append(lines, f.Name+": "+f.Value)
	}
	return strings.Join(lines, "\n")
}

// fingerprint is Prometheus's fingerprint of the label set, as Alertmanager
// sends it: 16 hex digits.
func fingerprint(l map[string]string) string {
	ls := make(model.LabelSet, len(l))
	for k, v := range l {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

// groupKey follows Alertmanager's shape, route then group labels:
// {}:{alertname="cost_daily"}.
func groupKey(group map[string]string) string {
	names := make([]string, 0, len(group))
	for k := range group {
		names = append(names, k)
	}
	sort.Strings(names)
	pairs := make([]string, 0, len(names))
	for _, k := range names {
		pairs = append(pairs, fmt.Sprintf("%s=%q", k, group[k]))
	}
	return "{}:{" + strings.Join(pairs, ", ") + "}"
}

func alertmanagerPayload(a Alert, externalURL string) amMessage {
	l := labels(a)
	an := annotations(a)
	group := map[string]string{"alertname": a.Rule}
	return amMessage{
		Version:           "4",
		GroupKey:          groupKey(group),
		Receiver:          receiverName,
		Status:            a.Status,
		GroupLabels:       group,
		CommonLabels:      l,
		CommonAnnotations: an,
		ExternalURL:       externalURL,
		Alerts: []amAlert{{
			Status:       a.Status,
			Labels:       l,
			Annotations:  an,
			StartsAt:     a.StartsAt.UTC(),
			EndsAt:       a.EndsAt.UTC(),
			GeneratorURL: a.DashboardURL,
			Fingerprint:  fingerprint(l),
		}},
	}
}
