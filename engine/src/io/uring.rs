pub struct Uring;
