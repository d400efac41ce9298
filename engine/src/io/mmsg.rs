pub struct Mmsg;
