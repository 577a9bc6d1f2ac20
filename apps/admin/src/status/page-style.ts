/** The status page's stylesheet, served as `/assets/status.css` (uPlot's own comes next to it). */
export const PAGE_STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; --line: #8884; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; max-width: 80rem; }
header { display: flex; align-items: baseline; gap: .75rem; flex-wrap: wrap; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1.25rem 0 .5rem; }
a { color: #0969da; }
.muted, .empty { color: var(--muted); }
.badge { border-radius: 1rem; padding: .05rem .6rem; border: 1px solid var(--line); font-weight: 600; }
.badge.up { color: var(--ok); border-color: var(--ok); } .badge.down { color: var(--bad); border-color: var(--bad); }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .9rem; min-width: 8rem; }
.card b { display: block; font-size: 1.4rem; font-variant-numeric: tabular-nums; }
.card span { color: var(--muted); font-size: .85rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; margin-top: 1rem; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; min-width: 0; }
figure.chart figcaption { font-weight: 600; margin-bottom: .25rem; }
.plot { width: 100%; min-height: 200px; }
table { border-collapse: collapse; min-width: 40rem; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #8883; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
#dead-letters-table td, #dead-letters-table th { text-align: left; vertical-align: top; }
td.mono { font-family: ui-monospace, monospace; font-size: .85rem; word-break: break-all; max-width: 24rem; }
td.error { color: var(--bad); max-width: 24rem; }
th { font-weight: 600; color: var(--muted); }
.up { color: var(--ok); } .down, .dlq { color: var(--bad); }
#error { color: var(--bad); min-height: 1.2em; }
.actions { display: flex; gap: .5rem; margin: 1rem 0 .25rem; }
button { font: inherit; padding: .35rem .9rem; border-radius: 6px; border: 1px solid var(--line); cursor: pointer; }
button.danger { color: var(--bad); border-color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
#action-result { color: var(--ok); min-height: 1.2em; }
dialog { border: 1px solid var(--line); border-radius: 8px; max-width: 32rem; }
dialog label { display: block; margin: .75rem 0; }
dialog input { display: block; width: 100%; box-sizing: border-box; margin-top: .25rem; font: inherit; padding: .3rem; }
dialog menu { display: flex; justify-content: flex-end; gap: .5rem; padding: 0; margin: 1rem 0 0; }
#confirm-error { color: var(--bad); min-height: 1.2em; }
footer { margin-top: 1.5rem; color: var(--muted); font-size: .85rem; }
`;
