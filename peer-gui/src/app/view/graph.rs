//! The speed graph of a tab: its peer's total down and up rates, one
//! sample a second over the last minutes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use eframe::egui::Ui;
use egui_plot::{HoverPosition, Legend, Line, Plot, PlotPoints, uniform_grid_spacer};

use super::human_rate;

/// How far back the graph goes.
pub const SPAN: Duration = Duration::from_secs(600);
/// One sample per this.
pub const EVERY: Duration = Duration::from_secs(1);

/// Rate samples, oldest first: (when, down, up), bytes per second.
#[derive(Debug, Default)]
pub struct Speeds {
    samples: VecDeque<(Instant, f64, f64)>,
}

impl Speeds {
    /// Records the rates now, unless the last sample is under a second
    /// old (the UI draws more often than that).
    pub fn sample(&mut self, now: Instant, down: f64, up: f64) {
        if self.samples.back().is_some_and(|(at, ..)| now.saturating_duration_since(*at) < EVERY) {
            return;
        }
        self.samples.push_back((now, down, up));
        while self.samples.front().is_some_and(|(at, ..)| now.saturating_duration_since(*at) > SPAN) {
            self.samples.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// (seconds before `now`, as a negative x; rate) per sample.
    fn points(&self, now: Instant, pick: impl Fn(&(Instant, f64, f64)) -> f64) -> Vec<[f64; 2]> {
        self.samples.iter().map(|s| [-now.saturating_duration_since(s.0).as_secs_f64(), pick(s)]).collect()
    }

    /// How far back the graph shows: its history, at least a minute.
    pub fn shown_span(&self, now: Instant) -> f64 {
        let oldest = self.samples.front().map_or(0.0, |s| now.saturating_duration_since(s.0).as_secs_f64());
        oldest.clamp(60.0, SPAN.as_secs_f64())
    }

    /// The highest rate either way over the span.
    pub fn peak(&self) -> f64 {
        self.samples.iter().map(|s| s.1.max(s.2)).fold(0.0, f64::max)
    }
}

/// `-90` as `1 min 30 s ago`.
fn ago(x: f64) -> String {
    let secs = (-x).round().max(0.0) as u64;
    match secs {
        0 => "now".into(),
        1..60 => format!("{secs} s ago"),
        _ if secs.is_multiple_of(60) => format!("{} min ago", secs / 60),
        _ => format!("{} min {} s ago", secs / 60, secs % 60),
    }
}

pub fn speed_graph(ui: &mut Ui, speeds: &Speeds) {
    let now = Instant::now();
    ui.horizontal(|ui| {
        let minutes = (speeds.shown_span(now) / 60.0).ceil() as u64;
        ui.label(format!(
            "Down and up over the last {}",
            if minutes == 1 { "minute".into() } else { format!("{minutes} minutes") }
        ));
        ui.weak(format!("peak {}", human_rate(speeds.peak())));
    });
    let v = ui.visuals();
    let (down_color, up_color) = (v.hyperlink_color, v.warn_fg_color);
    Plot::new("speed")
        .legend(Legend::default())
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_x(-speeds.shown_span(now))
        // Marks every 10 s, minute and 5 minutes, not at powers of ten.
        .x_grid_spacer(uniform_grid_spacer(|_| [10.0, 60.0, 300.0]))
        .include_x(0.0)
        .include_y(0.0)
        // Some headroom so a flat line at the top stays visible.
        .include_y(speeds.peak() * 1.1 + 1024.0)
        .x_axis_formatter(|mark, _| ago(mark.value))
        .y_axis_min_width(72.0)
        .y_axis_formatter(|mark, _| if mark.value < 0.0 { String::new() } else { human_rate(mark.value) })
        .label_formatter(|hover| match hover {
            HoverPosition::NearDataPoint { plot_name, position, .. } => {
                Some(format!("{plot_name} {}\n{}", human_rate(position.y.max(0.0)), ago(position.x)))
            }
            HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |plot| {
            plot.line(Line::new("down", PlotPoints::new(speeds.points(now, |s| s.1))).color(down_color).width(1.5));
            plot.line(Line::new("up", PlotPoints::new(speeds.points(now, |s| s.2))).color(up_color).width(1.5));
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_a_second_over_the_span() {
        let mut speeds = Speeds::default();
        let t0 = Instant::now();
        speeds.sample(t0, 10.0, 1.0);
        speeds.sample(t0 + Duration::from_millis(300), 99.0, 99.0);
        assert_eq!(speeds.len(), 1, "a redraw within the second adds nothing");
        for s in 1..=700 {
            speeds.sample(t0 + Duration::from_secs(s), s as f64, 0.0);
        }
        assert_eq!(speeds.len(), SPAN.as_secs() as usize + 1, "older samples fall off");
        assert_eq!(speeds.peak(), 700.0);
        let points = speeds.points(t0 + Duration::from_secs(700), |s| s.1);
        assert_eq!(points.last(), Some(&[0.0, 700.0]));
        assert_eq!(points[0][0], -(SPAN.as_secs() as f64));
    }

    #[test]
    fn the_graph_grows_from_a_minute_to_its_span() {
        let mut speeds = Speeds::default();
        let t0 = Instant::now();
        assert_eq!(speeds.shown_span(t0), 60.0, "empty: a minute");
        speeds.sample(t0, 1.0, 1.0);
        assert_eq!(speeds.shown_span(t0 + Duration::from_secs(30)), 60.0);
        assert_eq!(speeds.shown_span(t0 + Duration::from_secs(200)), 200.0);
        assert_eq!(speeds.shown_span(t0 + Duration::from_secs(5000)), SPAN.as_secs_f64());
    }

    #[test]
    fn times_read_as_ago() {
        assert_eq!(
            (ago(0.0), ago(-45.0), ago(-120.0), ago(-90.0)),
            ("now".into(), "45 s ago".into(), "2 min ago".into(), "1 min 30 s ago".into())
        );
    }
}
