// Line charts drawn on the server as inline SVG: the overview needs no script, no library and no other origin.
using System.Globalization;
using System.Text;

namespace Mta.Web.Console;

/// <summary>A time series chart: a few lines over a shared time axis, a y axis from 0 to a round maximum.</summary>
internal static class SvgChart
{
    private const int Width = 420;
    private const int Height = 200;
    private const int Left = 40;
    private const int Right = 12;
    private const int Top = 12;
    private const int Bottom = 26;

    /// <summary>One line: its name (for the legend and the tooltip), its colour, its points oldest first.</summary>
    public sealed record Series(string Name, string Color, IReadOnlyList<(DateTimeOffset At, double Value)> Points);

    public static Html Draw(string label, DateTimeOffset from, DateTimeOffset to, IReadOnlyList<Series> series)
    {
        var span = Math.Max(1, (to - from).TotalSeconds);
        var max = NiceMax(series.SelectMany(s => s.Points).Select(p => p.Value).DefaultIfEmpty(0).Max());
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        double X(DateTimeOffset at) => Left + Math.Clamp((at - from).TotalSeconds / span, 0, 1) * plotWidth;
        double Y(double value) => Top + plotHeight - value / max * plotHeight;

        var svg = new StringBuilder();
        // Horizontal grid and y labels: 0, 1/4 ... max.
        for (var i = 0; i <= 4; i++)
        {
            var value = max * i / 4;
            var y = Y(value);
            svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{y:0.#}\" x2=\"{Width - Right}\" y2=\"{y:0.#}\" stroke=\"#e6e9ef\" stroke-width=\"1\"/>"));
            svg.Append(Invariant($"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\" font-size=\"11\" fill=\"#667085\">{Number(value)}</text>"));
        }
        // Time labels: five, evenly spread, as HH:mm UTC.
        for (var i = 0; i <= 4; i++)
        {
            var at = from + TimeSpan.FromSeconds(span * i / 4);
            var anchor = i == 0 ? "start" : i == 4 ? "end" : "middle";
            svg.Append(Invariant($"<text x=\"{X(at):0.#}\" y=\"{Height - 8}\" text-anchor=\"{anchor}\" font-size=\"11\" fill=\"#667085\">{at.UtcDateTime:HH:mm}</text>"));
        }
        svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{Top + plotHeight}\" x2=\"{Width - Right}\" y2=\"{Top + plotHeight}\" stroke=\"#c6cbd6\" stroke-width=\"1\"/>"));
        foreach (var line in series)
        {
            if (line.Points.Count == 0) continue;
            var points = string.Join(" ", line.Points.Select(p => Invariant($"{X(p.At):0.#},{Y(p.Value):0.#}")));
            // Names and colours are the console's own constants; encoded all the same.
            svg.Append(Html.Of($"<polyline fill=\"none\" stroke=\"{line.Color}\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"{points}\"><title>{line.Name}</title></polyline>"));
            if (line.Points.Count == 1)
            {
                var p = line.Points[0];
                svg.Append(Html.Of($"<circle cx=\"{X(p.At):0.#}\" cy=\"{Y(p.Value):0.#}\" r=\"3\" fill=\"{line.Color}\"/>"));
            }
        }
        return Html.Of($"<svg viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">{Html.Raw(svg.ToString())}</svg>");
    }

    // The smallest of 1, 2, 2.5, 5 times a power of ten at or above the largest value, so the grid has round labels.
    internal static double NiceMax(double value)
    {
        if (value <= 0) return 4;
        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1, 2, 2.5, 5, 10 })
            if (step * power >= value) return Math.Max(4, step * power);
        return 10 * power;
    }

    private static string Number(double value) => value >= 1000
        ? (value / 1000).ToString("0.#", CultureInfo.InvariantCulture) + "k"
        : value.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
