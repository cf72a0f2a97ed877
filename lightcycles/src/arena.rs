//! The simulation: a bevy_ecs `World` with one entity per cycle (its seat, position, heading,
//! trail and alive flag) and a single-threaded `Schedule` of four systems run once per tick:
//! input, movement, collision, elimination. Integer arithmetic only, and every system sorts
//! what it reads by seat, so a tick never depends on the ECS's storage order.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use serde::{Deserialize, Serialize};

/// Which way a cycle moves. `y` grows downwards: north is `y - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Component)]
#[serde(rename_all = "snake_case")]
pub enum Heading {
    /// Up (`y - 1`).
    North,
    /// Right (`x + 1`).
    East,
    /// Down (`y + 1`).
    South,
    /// Left (`x - 1`).
    West,
}

/// A quarter turn, relative to the heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Turn {
    /// Counter-clockwise.
    Left,
    /// Clockwise.
    Right,
}

impl Heading {
    /// The cell offset of one step.
    pub fn step(self) -> (i16, i16) {
        match self {
            Heading::North => (0, -1),
            Heading::East => (1, 0),
            Heading::South => (0, 1),
            Heading::West => (-1, 0),
        }
    }

    /// The heading after `turn`.
    pub fn turned(self, turn: Turn) -> Heading {
        const CLOCKWISE: [Heading; 4] =
            [Heading::North, Heading::East, Heading::South, Heading::West];
        let at = CLOCKWISE.iter().position(|h| *h == self).unwrap_or(0);
        let by = match turn {
            Turn::Right => 1,
            Turn::Left => 3,
        };
        CLOCKWISE[(at + by) % 4]
    }

    /// Its stable number in the state hash.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The seat that steers this cycle.
#[derive(Debug, Clone, Copy, Component)]
pub struct Rider(pub u8);

/// The cell of the cycle's head. A crashed cycle keeps the cell it crashed into (which may lie
/// outside the grid or on a trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Component)]
pub struct Position {
    /// Column, from 0 at the left.
    pub x: i16,
    /// Row, from 0 at the top.
    pub y: i16,
}

/// Every cell the cycle has covered, oldest first; its start cell included.
#[derive(Debug, Clone, Default, Component)]
pub struct Trail(pub Vec<Position>);

/// Whether the cycle still rides.
#[derive(Debug, Clone, Copy, Component)]
pub struct Alive(pub bool);

/// The board: which seat's trail covers each cell (0 for none, seat + 1 otherwise).
#[derive(Debug, Clone, Resource)]
pub struct Grid {
    width: i16,
    height: i16,
    owner: Vec<u8>,
}

impl Grid {
    /// An empty board.
    pub fn new(width: u8, height: u8) -> Grid {
        let owner = vec![0; usize::from(width) * usize::from(height)];
        Grid { width: i16::from(width), height: i16::from(height), owner }
    }

    fn index(&self, at: Position) -> Option<usize> {
        let inside = (0..self.width).contains(&at.x) && (0..self.height).contains(&at.y);
        // Both coordinates are non-negative and in range here, so the casts are exact.
        inside.then(|| at.y as usize * self.width as usize + at.x as usize)
    }

    /// Whether a cycle may enter `at`: inside the walls and on no trail.
    pub fn is_free(&self, at: Position) -> bool {
        self.index(at).is_some_and(|i| self.owner[i] == 0)
    }

    /// Covers `at` with `seat`'s trail.
    pub fn cover(&mut self, at: Position, seat: u8) {
        if let Some(i) = self.index(at) {
            self.owner[i] = seat + 1;
        }
    }
}

/// The steering inputs of the tick being run: at most one per seat, in seat order.
#[derive(Debug, Clone, Default, Resource)]
pub struct Inputs(pub Vec<(u8, Turn)>);

/// The seats that crashed in the tick being run, in seat order.
#[derive(Debug, Clone, Default, Resource)]
pub struct Crashed(pub Vec<u8>);

/// How many ticks have run.
#[derive(Debug, Clone, Copy, Default, Resource)]
pub struct Clock(pub u32);

/// Input: each steering input turns its (living) cycle's heading.
fn input(mut inputs: ResMut<Inputs>, mut cycles: Query<(&Rider, &Alive, &mut Heading)>) {
    for (rider, alive, mut heading) in &mut cycles {
        let turn = inputs.0.iter().find(|(seat, _)| *seat == rider.0).map(|(_, turn)| *turn);
        if let (true, Some(turn)) = (alive.0, turn) {
            *heading = heading.turned(turn);
        }
    }
    inputs.0.clear();
}

/// Movement: every living cycle advances one cell along its heading.
fn movement(mut cycles: Query<(&Alive, &Heading, &mut Position)>) {
    for (alive, heading, mut at) in &mut cycles {
        if alive.0 {
            let (dx, dy) = heading.step();
            *at = Position { x: at.x + dx, y: at.y + dy };
        }
    }
}

/// Collision: a living cycle crashes when its new cell is outside the walls, on any trail
/// (its own included), or the new cell of another cycle (a head-on crash takes all of them).
fn collision(
    grid: Res<Grid>,
    mut crashed: ResMut<Crashed>,
    cycles: Query<(&Rider, &Alive, &Position)>,
) {
    let heads: Vec<(u8, Position)> = cycles
        .iter()
        .filter(|(_, alive, _)| alive.0)
        .map(|(rider, _, at)| (rider.0, *at))
        .collect();
    crashed.0 = heads
        .iter()
        .filter(|(seat, at)| {
            !grid.is_free(*at) || heads.iter().any(|(other, there)| other != seat && there == at)
        })
        .map(|(seat, _)| *seat)
        .collect();
    crashed.0.sort_unstable();
}

/// Elimination: crashed cycles stop riding; the others lay their trail on their new cell.
fn elimination(
    mut grid: ResMut<Grid>,
    crashed: Res<Crashed>,
    mut clock: ResMut<Clock>,
    mut cycles: Query<(&Rider, &mut Alive, &Position, &mut Trail)>,
) {
    for (rider, mut alive, at, mut trail) in &mut cycles {
        if !alive.0 {
            continue;
        }
        if crashed.0.contains(&rider.0) {
            alive.0 = false;
        } else {
            grid.cover(*at, rider.0);
            trail.0.push(*at);
        }
    }
    clock.0 += 1;
}

/// One cycle as it stands, read out of the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleState {
    /// Its seat.
    pub seat: u8,
    /// Its head.
    pub at: Position,
    /// Its heading.
    pub heading: Heading,
    /// Whether it still rides.
    pub alive: bool,
    /// Its trail, oldest first.
    pub trail: Vec<Position>,
}

/// The world, its schedule and the entity of each seat.
pub struct Arena {
    world: World,
    schedule: Schedule,
    cycles: Vec<Entity>,
    width: u8,
    height: u8,
}

impl Arena {
    /// A board of `width × height` with one cycle per `(position, heading)`, seat by seat.
    pub fn new(width: u8, height: u8, starts: &[(Position, Heading)]) -> Arena {
        let mut world = World::new();
        let mut grid = Grid::new(width, height);
        let cycles = (0u8..)
            .zip(starts)
            .map(|(seat, (at, heading))| {
                grid.cover(*at, seat);
                world.spawn((Rider(seat), *at, *heading, Trail(vec![*at]), Alive(true))).id()
            })
            .collect();
        world.insert_resource(grid);
        world.insert_resource(Inputs::default());
        world.insert_resource(Crashed::default());
        world.insert_resource(Clock::default());
        let mut schedule = Schedule::default();
        // One thread, systems in a fixed chain: the same order on every platform and run.
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.add_systems((input, movement, collision, elimination).chain());
        Arena { world, schedule, cycles, width, height }
    }

    /// A board as a snapshot describes it: `cycles` in seat order, each trail laid on the
    /// grid, `ticks` already run.
    pub fn restore(width: u8, height: u8, ticks: u32, cycles: &[CycleState]) -> Arena {
        let starts: Vec<(Position, Heading)> =
            cycles.iter().map(|c| (c.trail.first().copied().unwrap_or(c.at), c.heading)).collect();
        let mut arena = Arena::new(width, height, &starts);
        arena.world.resource_mut::<Clock>().0 = ticks;
        for (cycle, entity) in cycles.iter().zip(arena.cycles.clone()) {
            let mut grid = arena.world.resource_mut::<Grid>();
            cycle.trail.iter().for_each(|at| grid.cover(*at, cycle.seat));
            let mut e = arena.world.entity_mut(entity);
            e.insert((cycle.at, Trail(cycle.trail.clone()), Alive(cycle.alive)));
        }
        arena
    }

    /// Runs one tick with at most one input per seat.
    pub fn tick(&mut self, inputs: Vec<(u8, Turn)>) {
        self.world.resource_mut::<Inputs>().0 = inputs;
        self.schedule.run(&mut self.world);
    }

    /// Turns a living cycle now, outside a tick (a move applied on its own).
    pub fn steer(&mut self, seat: u8, turn: Turn) {
        let entity = self.cycles.get(usize::from(seat)).copied();
        if let Some(mut heading) = entity.and_then(|e| self.world.get_mut::<Heading>(e)) {
            *heading = heading.turned(turn);
        }
    }

    /// The board's size.
    pub fn size(&self) -> (u8, u8) {
        (self.width, self.height)
    }

    /// How many ticks have run.
    pub fn ticks(&self) -> u32 {
        self.world.resource::<Clock>().0
    }

    /// Whether a cycle may enter `at` now.
    pub fn is_free(&self, at: Position) -> bool {
        self.world.resource::<Grid>().is_free(at)
    }

    /// Every cycle, in seat order.
    pub fn cycles(&self) -> Vec<CycleState> {
        (0u8..).zip(&self.cycles).map(|(seat, entity)| self.cycle(seat, *entity)).collect()
    }

    fn cycle(&self, seat: u8, entity: Entity) -> CycleState {
        let cycle = self.world.entity(entity);
        let read = |missing| -> ! { panic!("cycle {seat} lost its {missing}") };
        CycleState {
            seat,
            at: *cycle.get::<Position>().unwrap_or_else(|| read("position")),
            heading: *cycle.get::<Heading>().unwrap_or_else(|| read("heading")),
            alive: cycle.get::<Alive>().unwrap_or_else(|| read("alive flag")).0,
            trail: cycle.get::<Trail>().unwrap_or_else(|| read("trail")).0.clone(),
        }
    }

    /// How many seats (cycles) the board has.
    pub fn seats(&self) -> u8 {
        // At most 8 cycles are ever spawned (the config's bound).
        u8::try_from(self.cycles.len()).unwrap_or(u8::MAX)
    }

    /// How many cycles still ride, read without copying any trail: every validation asks.
    pub fn riders(&self) -> usize {
        (0..self.seats()).filter(|seat| self.is_alive(*seat)).count()
    }

    /// Whether the cycle of `seat` still rides.
    pub fn is_alive(&self, seat: u8) -> bool {
        let entity = self.cycles.get(usize::from(seat)).copied();
        entity.and_then(|e| self.world.get::<Alive>(e)).is_some_and(|alive| alive.0)
    }
}
