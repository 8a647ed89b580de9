// Small SVG charts drawn by hand: no chart library, nothing loaded from elsewhere.

export interface Series {
  name: string;
  /** CSS class that colours the line (see styles.css: series-a, series-b, …). */
  className: string;
  values: (number | null)[];
}

interface LineChartProps {
  title: string;
  labels: string[];
  series: Series[];
  formatValue: (value: number) => string;
  /** Fixed top of the y axis (e.g. 1 for rates); otherwise the data's maximum. */
  max?: number;
}

const WIDTH = 560;
const HEIGHT = 200;
const PAD = { top: 12, right: 12, bottom: 26, left: 56 };

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((factor) => factor * magnitude >= value) ?? 10;
  return step * magnitude;
}

/** Where each value sits in the chart; null (no data that minute) stays null. */
export function chartPoints(values: (number | null)[], max: number): ({ x: number; y: number } | null)[] {
  const innerWidth = WIDTH - PAD.left - PAD.right;
  const innerHeight = HEIGHT - PAD.top - PAD.bottom;
  const step = values.length > 1 ? innerWidth / (values.length - 1) : 0;
  return values.map((value, index) => {
    if (value === null || Number.isNaN(value)) return null;
    const x = PAD.left + (values.length > 1 ? index * step : innerWidth / 2);
    const y = PAD.top + innerHeight - (Math.min(value, max) / max) * innerHeight;
    return { x, y };
  });
}

/** Points of one series as SVG path commands; gaps (null) break the line. */
export function linePath(values: (number | null)[], max: number): string {
  let path = "";
  let drawing = false;
  for (const point of chartPoints(values, max)) {
    if (point === null) {
      drawing = false;
      continue;
    }
    path += `${drawing ? "L" : "M"}${point.x.toFixed(1)},${point.y.toFixed(1)} `;
    drawing = true;
  }
  return path.trim();
}

export function LineChart({ title, labels, series, formatValue, max }: LineChartProps) {
  const all = series.flatMap((line) => line.values.filter((value): value is number => value !== null));
  if (!all.length) {
    return (
      <figure className="chart">
        <figcaption>{title}</figcaption>
        <p className="chart-empty">No data in this period yet.</p>
      </figure>
    );
  }
  const top = max ?? niceMax(Math.max(...all));
  const innerHeight = HEIGHT - PAD.top - PAD.bottom;
  const ticks = [0, 0.5, 1].map((fraction) => ({ value: top * fraction, y: PAD.top + innerHeight * (1 - fraction) }));
  const latest = series.map((line) => {
    const last = [...line.values].reverse().find((value) => value !== null);
    return `${line.name}: ${last === undefined || last === null ? "no data" : formatValue(last)}`;
  });
  const summary = `${title}, ${labels.length} points from ${labels[0]} to ${labels[labels.length - 1]}. Latest — ${latest.join("; ")}.`;
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={summary}>
        {ticks.map((tick) => (
          <g key={tick.value}>
            <line className="chart-grid" x1={PAD.left} x2={WIDTH - PAD.right} y1={tick.y} y2={tick.y} />
            <text className="chart-tick" x={PAD.left - 6} y={tick.y + 4} textAnchor="end">
              {formatValue(tick.value)}
            </text>
          </g>
        ))}
        <text className="chart-tick" x={PAD.left} y={HEIGHT - 6} textAnchor="start">
          {labels[0]}
        </text>
        <text className="chart-tick" x={WIDTH - PAD.right} y={HEIGHT - 6} textAnchor="end">
          {labels[labels.length - 1]}
        </text>
        {series.map((line) => (
          <g key={line.name} className={line.className}>
            <path className="chart-line" d={linePath(line.values, top)} />
            {/* Dots too: a minute with data between two without would otherwise draw nothing. */}
            {chartPoints(line.values, top).map((point, index) =>
              point ? <circle key={index} className="chart-dot" cx={point.x} cy={point.y} r={3} /> : null,
            )}
          </g>
        ))}
      </svg>
      <ul className="chart-legend">
        {series.map((line, index) => (
          <li key={line.name}>
            <span className={`legend-swatch ${line.className}`} aria-hidden="true" />
            {latest[index]}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** Horizontal bars for a handful of labelled counts. */
export function BarList({ title, items }: { title: string; items: { label: string; value: number; detail?: string }[] }) {
  const top = Math.max(1, ...items.map((item) => item.value));
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <ul className="bars">
        {items.map((item) => (
          <li key={item.label}>
            <span className="bar-label">{item.label}</span>
            <span className="bar-track" aria-hidden="true">
              <svg viewBox="0 0 100 10" preserveAspectRatio="none" className="bar-svg">
                <rect className="bar-fill" x="0" y="0" height="10" width={(item.value / top) * 100} />
              </svg>
            </span>
            <span className="bar-value">
              {item.value.toLocaleString()}
              {item.detail && <span className="muted"> {item.detail}</span>}
            </span>
          </li>
        ))}
      </ul>
    </figure>
  );
}
