//! The first message a socket would send to sit where it sits now: what a
//! cluster node replays for its sockets when the room they are in moves to
//! another node (its owner died) or comes back after Redis was away, so
//! they stay connected and get a fresh `welcome` instead of a close.

use crate::protocol::ClientMsg;

use super::{ConnId, Room, Who};

impl Room {
    /// The identifying message that gives socket `conn` its place back in
    /// this room restored elsewhere: the host's token, the player's resume
    /// token, the interviewer's token, or a plain screen. `None` for a
    /// socket the room does not know.
    pub fn rejoin_msg(&self, conn: ConnId) -> Option<ClientMsg> {
        let room = self.d.code.clone();
        Some(match self.live.conns.get(&conn)? {
            Who::Host => ClientMsg::Host {
                room,
                token: self.d.host_token.clone(),
            },
            Who::Screen => ClientMsg::Screen { room },
            Who::Player(id) => ClientMsg::Resume {
                room,
                resume_token: self.d.player(*id)?.token.clone(),
                sync: self.live.syncing.contains(&conn),
            },
            Who::Interviewer(id) => ClientMsg::Interviewer {
                room,
                token: self
                    .d
                    .panel
                    .interviewers
                    .iter()
                    .find(|i| i.id == *id)?
                    .token
                    .clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::live::room::{Command, Room, RoomOptions};
    use crate::protocol::ClientMsg;

    #[test]
    fn every_role_gets_a_message_that_seats_it_again_in_a_restored_room() {
        let catalog = std::sync::Arc::new(crate::bank::catalog::Catalog::default());
        let mut room = Room::new(
            "ABCDEF".into(),
            "tok".into(),
            RoomOptions::default(),
            catalog.clone(),
            1,
        );
        let hellos = [
            (
                1,
                ClientMsg::Host {
                    room: "ABCDEF".into(),
                    token: "tok".into(),
                },
            ),
            (
                2,
                ClientMsg::Screen {
                    room: "ABCDEF".into(),
                },
            ),
            (
                3,
                ClientMsg::Join {
                    room: "ABCDEF".into(),
                    name: "ann".into(),
                    resume_token: None,
                    sync: true,
                },
            ),
        ];
        for (conn, msg) in hellos {
            room.apply(Command::Hello { conn, msg }, 1_000);
        }
        assert_eq!(room.rejoin_msg(9), None);
        let mut restored = Room::restore(room.snapshot(), catalog).unwrap();
        for conn in [1, 2, 3] {
            let again = room.rejoin_msg(conn).expect("a known socket");
            restored.apply(
                Command::Hello {
                    conn: conn + 10,
                    msg: again,
                },
                2_000,
            );
            assert_eq!(restored.role_of(conn + 10), room.role_of(conn));
        }
        assert_eq!(restored.player_of(13), room.player_of(3));
    }
}
