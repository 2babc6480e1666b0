// host core sources go here
namespace rlhf_host { int placeholder = 0; }
