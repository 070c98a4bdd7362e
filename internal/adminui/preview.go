package adminui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
)

// previewPage is a card preview that stands alone: the styles, Microsoft's
// Adaptive Cards renderer and the page's card.js inline, the card as JSON
// data, so it opens from a file, offline.
var previewPage = template.Must(template.New("preview").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hookrelay card preview</title>
<style>{{.Style}}</style>
<style>{{.ACStyle}}</style>
<script>{{.AC}}</script>
<script>{{.CardJS}}</script>
</head>
<body>
<h1>hookrelay card preview</h1>
<p id="what">{{.What}}</p>
<div id="preview-card" class="preview"></div>
<details open><summary>Raw JSON</summary><pre id="preview-json"></pre></details>
<script id="card" type="application/json">{{.Card}}</script>
<script>
"use strict";
const raw = document.getElementById("card").textContent;
document.getElementById("preview-json").textContent = JSON.stringify(JSON.parse(raw), null, 2);
try {
  const kind = window.HookrelayCard.render(document.getElementById("preview-card"), raw);
  document.getElementById("what").textContent += kind === "adaptive" ? " · Adaptive Card, drawn by Microsoft's renderer" : " · MessageCard, as Teams lays it out";
} catch (e) {
  document.getElementById("preview-card").textContent = "cannot draw this card: " + e.message;
}
</script>
</body>
</html>
`))

// PreviewPage returns a standalone HTML page that shows card as Teams would,
// with the admin page's renderer (hookrelay render --preview writes it).
// what is a line saying where the card comes from.
func PreviewPage(card []byte, what string) ([]byte, error) {
	if !json.Valid(card) {
		return nil, fmt.Errorf("preview: the card is not JSON")
	}
	read := func(name string) (string, error) {
		b, err := fs.ReadFile(static, "static/"+name)
		return string(b), err
	}
	var data struct {
		What             string
		Style, ACStyle   template.CSS
		AC, CardJS, Card template.JS
	}
	data.What = what
	style, err := read("style.css")
	if err != nil {
		return nil, err
	}
	acStyle, err := read("vendor/adaptivecards/adaptivecards.css")
	if err != nil {
		return nil, err
	}
	data.Style, data.ACStyle = template.CSS(style), template.CSS(acStyle)
	ac, err := read("vendor/adaptivecards/adaptivecards.min.js")
	if err != nil {
		return nil, err
	}
	cardJS, err := read("card.js")
	if err != nil {
		return nil, err
	}
	// Trusted: both ship in the binary. The card is data in a JSON script
	// block; html/template does not escape inside it, so its "<" are
	// escaped here (json.Compact keeps them; \u003c reads the same).
	data.AC, data.CardJS = template.JS(ac), template.JS(cardJS)
	var compact bytes.Buffer
	if err := json.Compact(&compact, card); err != nil {
		return nil, err
	}
	safe := bytes.ReplaceAll(compact.Bytes(), []byte("<"), []byte(`\u003c`))
	data.Card = template.JS(safe)
	var out bytes.Buffer
	if err := previewPage.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	return out.Bytes(), nil
}
