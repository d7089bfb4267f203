package notify

import "strings"

// slackMessage is Slack's incoming-webhook payload: text, the fallback shown
// in notifications, and blocks, what the channel shows.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type   string      `json:"type"`
	Text   *slackText  `json:"text,omitempty"`
	Fields []slackText `json:"fields,omitempty"`
	Elems  []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackMaxFields is Slack's limit on a section's fields.
const slackMaxFields = 10

// slackEscape escapes the three characters Slack's mrkdwn treats as markup.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackPayload(a Alert) slackMessage {
	title := "[" + statusWord(a) + "] " + oneLine(a.Summary)
	body := "*" + slackEscape.Replace(title) + "*"
	if a.Description != "" {
		body += "\n" + slackEscape.Replace(a.Description)
	}
	m := slackMessage{
		Text:   title,
		Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: body}}},
	}
	if len(a.Figures) > 0 {
		var fields []slackText
		for i, f := range a.Figures {
			if i == slackMaxFields {
				break
			}
			fields = append(fields, slackText{Type: "mrkdwn", Text: "*" + slackEscape.Replace(f.Name) + "*\n" + slackEscape.Replace(f.Value)})
		}
		m.Blocks = append(m.Blocks, slackBlock{Type: "section", Fields: fields})
	}
	ctx := "Rule `" + slackEscape.Replace(a.Rule) + "`"
	if a.DashboardURL != "" {
		ctx += " · <" + slackEscape.Replace(a.DashboardURL) + "|Dashboard>"
	}
	m.Blocks = append(m.Blocks, slackBlock{Type: "context", Elems: []slackText{{Type: "mrkdwn", Text: ctx}}})
	return m
}
